"""Dev watch: a save that validates becomes the active version; a broken save logs where it is
broken and changes nothing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from api.live import LiveEngine
from api.models import RulebookActivation, RulebookVersion
from api.rulebook_versions import active_version
from api.rules_watch import watch_rules
from rules import content_version
from tests.api.rulebook_data import demo_files, typo_line, write_rulebook


def version_of(files: dict[str, str]) -> str:
    return content_version({name: text.encode() for name, text in files.items()})


def save(folder: Path, files: dict[str, str]) -> None:
    """What an editor does: write the one file that changed."""
    (folder / "lifecycle.yaml").write_text(files["lifecycle.yaml"], encoding="utf-8")


async def until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    for _ in range(600):  # generous for a loaded CI machine; returns as soon as it holds
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


async def test_a_valid_save_is_activated_and_a_broken_one_is_logged_and_ignored(
    tmp_path: Path, live_restored: LiveEngine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="leadgate.rules_watch")
    folder = write_rulebook(tmp_path / "rules", demo_files())
    stop = asyncio.Event()
    watcher = asyncio.create_task(watch_rules(folder, debounce_ms=100, stop=stop))
    try:
        first = version_of(demo_files())

        async def is_active(version: str) -> bool:
            return await active_version() == version

        await until(lambda: is_active(first), "the folder is published at start")

        lower = demo_files(engagement=20)
        save(folder, lower)
        await until(lambda: is_active(version_of(lower)), "a valid save is activated")
        row = await RulebookVersion.get(version=version_of(lower))
        assert row.published_by == "watch"
        activation = await RulebookActivation.get(version=row.version)
        assert (activation.previous_version, activation.note) == (
            first,
            "watch: changed lifecycle.yaml",
        )

        save(folder, demo_files(engagement=20, typo=True))

        async def refused() -> bool:
            return "the active version" in caplog.text

        await until(refused, "a broken save is reported")
        assert f"lifecycle.yaml:{typo_line()}:" in caplog.text  # where, not just that
        assert "unknown stage `mqlx`" in caplog.text
        assert await active_version() == version_of(lower)
        assert await RulebookVersion.all().count() == 2  # nothing invalid is stored
    finally:
        stop.set()
        await asyncio.wait_for(watcher, 10)
