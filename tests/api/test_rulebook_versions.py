"""Stored versions load without a YAML parse: publishing stores the parsed form, a process that
swaps to the version thaws it; a form this code must not or cannot use is parsed instead, and
written again for the next process."""

from __future__ import annotations

import os
import pickle
import zlib
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette

from api.engine import RulesEngine
from api.live import LiveEngine
from api.models import RulebookVersion
from api.rulebook_store import load_stored, load_version, parse_version
from api.rulebook_versions import publish_rulebook
from rules import Rulebook, example_input
from rules.frozen import format_fingerprint
from tests.api.rulebook_data import count_yaml_parses, demo_files


def encoded(files: dict[str, str]) -> dict[str, bytes]:
    return {path: text.encode() for path, text in files.items()}


@pytest.fixture
def yaml_parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    return count_yaml_parses(monkeypatch)


async def decisions(book: Rulebook) -> list[dict[str, Any]]:
    """The demo's example leads evaluated in engine workers of ``book`` (timings left out)."""
    engine = RulesEngine(book, workers=1)
    try:
        return [
            (await engine.evaluate(example_input(book, ex))).model_dump(exclude={"duration_ms"})
            for ex in book.examples
        ]
    finally:
        await engine.close()


async def test_another_server_swaps_to_a_published_version_without_parsing_it(
    app: Starlette, live_restored: LiveEngine, yaml_parses: list[str]
) -> None:
    demo = app.state.live.current.rulebook
    done = await publish_rulebook(
        files=encoded(demo_files(engagement=20)), note="x", published_by="t"
    )
    row = await RulebookVersion.get(version=done.row.version)
    assert row.parsed
    assert row.parsed_format == format_fingerprint()
    published = len(yaml_parses)
    assert published  # publishing validates: it parses
    other = LiveEngine(RulesEngine(demo, workers=1))  # a server that still runs the demo
    try:
        assert await other.refresh()
        assert other.version == row.version
        assert len(yaml_parses) == published  # the swap thawed, parsed nothing
        swapped = other.current.rulebook
    finally:
        await other.close()
    parsed = parse_version(row)
    assert len(yaml_parses) > published
    assert swapped == parsed
    assert await decisions(swapped) == await decisions(parsed)


class _Shell:
    """What a hostile write to the database would store: a pickle that runs a command."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("stored", ["hostile", "other code", "none (published before)"])
async def test_a_form_that_cannot_be_used_is_parsed_and_stored_again(
    live_restored: LiveEngine, yaml_parses: list[str], tmp_path: Path, stored: str
) -> None:
    done = await publish_rulebook(
        files=encoded(demo_files(engagement=22)), note="x", published_by="t", activate=False
    )
    marker = tmp_path / "ran"
    forms: dict[str, dict[str, Any]] = {
        "hostile": {
            "parsed": zlib.compress(pickle.dumps(_Shell(marker))),
            "parsed_format": format_fingerprint(),
        },
        "other code": {"parsed_format": "0" * 32},
        "none (published before)": {"parsed": None, "parsed_format": None},
    }
    await RulebookVersion.filter(version=done.row.version).update(**forms[stored])
    row = await RulebookVersion.get(version=done.row.version)
    before = len(yaml_parses)

    book = await load_stored(row)

    assert not marker.exists()
    assert len(yaml_parses) > before  # parsed instead
    assert book == parse_version(row)
    healed = await RulebookVersion.get(version=done.row.version)
    assert healed.parsed_format == format_fingerprint()
    again = len(yaml_parses)
    assert load_version(healed) == book
    assert len(yaml_parses) == again  # the next process thaws it
