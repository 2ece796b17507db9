"""The live engine: a lease keeps the engine it started with open; a version that does not
load or run is never swapped in; the old engine's worker processes end after the last lease."""

from __future__ import annotations

import asyncio
import os

import pytest
from starlette.applications import Starlette

from api.engine import RulesEngine
from api.live import LiveEngine
from api.models import RulebookVersion
from api.rulebook_versions import publish_rulebook
from rules import EngineError, EvaluationInput, Rulebook
from tests.api.rulebook_data import demo_files


def encoded(files: dict[str, str]) -> dict[str, bytes]:
    return {path: text.encode() for path, text in files.items()}


def alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def factory(book: Rulebook) -> RulesEngine:
    return RulesEngine(book, workers=1)


async def test_swap_waits_for_leases_then_frees_the_old_workers(
    app: Starlette, live_restored: LiveEngine
) -> None:
    demo = app.state.live.current.rulebook
    live = LiveEngine(factory(demo), factory=factory)
    try:
        await publish_rulebook(files=encoded(demo_files(engagement=20)), note="x", published_by="t")
        old = live.current
        [old_pid] = old.pool.worker_pids()
        async with live.lease() as leased:
            assert await live.refresh()
            assert live.current is not old
            assert leased is old
            await asyncio.sleep(0.3)
            assert alive(old_pid)  # still leased: in-flight work finishes on it
            result = await leased.evaluate(EvaluationInput.model_validate(PROBE))
            assert result.rulebook_version == demo.version
        for _ in range(100):
            if not alive(old_pid):
                break
            await asyncio.sleep(0.05)
        assert not alive(old_pid)
        assert not await live.refresh()  # already current: nothing to do
    finally:
        await live.close()


async def test_a_version_that_cannot_run_is_not_swapped_in(
    app: Starlette, live_restored: LiveEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    demo = app.state.live.current.rulebook
    live = LiveEngine(factory(demo), factory=factory)
    try:
        await publish_rulebook(files=encoded(demo_files(engagement=25)), note="x", published_by="t")

        async def broken(self: RulesEngine, fact_input: EvaluationInput) -> object:
            raise EngineError("durable_rules assert_facts failed: 303")

        monkeypatch.setattr(RulesEngine, "evaluate", broken)
        assert not await live.refresh()
        assert live.version == demo.version
        assert not await live.refresh()  # the failed version is not retried every poll
        await RulebookVersion.filter(active=True).update(active=False)
    finally:
        await live.close()


PROBE = {"lead": {"email": "a@b.co"}, "now": "2026-01-15T12:00:00Z"}
