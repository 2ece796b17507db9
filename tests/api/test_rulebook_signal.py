"""PostgreSQL NOTIFY: publishing and activating reach every listening process at commit, with
the version's files and parsed form read on the listener's own connection."""

from __future__ import annotations

import asyncio

import pytest

from api.live import LiveEngine
from api.models import RulebookVersion
from api.rulebook_signal import ConnectionPointer, listen
from api.rulebook_store import load_stored, parse_version
from api.rulebook_versions import activate_rulebook, publish_rulebook
from tests.api.rulebook_data import count_yaml_parses, demo_files


def encoded(files: dict[str, str]) -> dict[str, bytes]:
    return {path: text.encode() for path, text in files.items()}


@pytest.mark.postgres
async def test_publish_and_activate_notify_listeners_with_the_stored_version(
    live_restored: LiveEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    messages: list[tuple[str, str, RulebookVersion | None]] = []
    pointers: list[ConnectionPointer | None] = []
    listener = asyncio.create_task(
        listen(lambda *m: messages.append(m), lambda p: pointers.append(p))
    )
    try:
        for _ in range(200):
            if pointers:
                break
            await asyncio.sleep(0.05)
        [pointer] = pointers
        assert pointer is not None
        first = await publish_rulebook(
            files=encoded(demo_files()), note="a", published_by="t", activate=False
        )
        second = await publish_rulebook(
            files=encoded(demo_files(engagement=20)), note="b", published_by="t"
        )
        await activate_rulebook(version=first.row.version, activated_by="t", note="back")
        for _ in range(200):
            if len(messages) == 4:
                break
            await asyncio.sleep(0.05)
        assert [(kind, version) for kind, version, _ in messages] == [
            ("published", first.row.version),
            ("published", second.row.version),
            ("activated", second.row.version),
            ("activated", first.row.version),
        ]
        row = messages[2][2]  # read on the listener's connection
        assert row is not None
        assert row.files == demo_files(engagement=20)
        yaml_parses = count_yaml_parses(monkeypatch)
        book = await load_stored(row)  # what the server does with it: no YAML parse
        assert not yaml_parses
        assert book == parse_version(row)
        assert await pointer.active() == first.row.version
    finally:
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)
    assert pointers[-1] is None  # back to the ORM's pool once the listener is gone


async def test_sqlite_has_no_listener(live_restored: LiveEngine) -> None:
    from tests.conftest import ON_POSTGRES

    if ON_POSTGRES:
        pytest.skip("PostgreSQL listens")
    await asyncio.wait_for(listen(lambda *m: None, lambda p: None), 5)  # returns at once
