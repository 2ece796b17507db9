"""The live engine: a swap starts no process, a lease keeps the version it started with; a
version that does not load or run is never swapped in; a notification swaps without a poll."""

from __future__ import annotations

import asyncio
import os

import pytest
from starlette.applications import Starlette

from api.engine import RulesEngine
from api.live import LiveEngine
from api.models import RulebookVersion
from api.rulebook_versions import publish_rulebook
from rules import EngineError, EnginePool, EvaluationInput, Rulebook
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


def start(book: Rulebook) -> RulesEngine:
    return RulesEngine(book, workers=1)


async def test_a_swap_reuses_the_workers_and_a_lease_keeps_its_version(
    app: Starlette, live_restored: LiveEngine
) -> None:
    demo = app.state.live.current.rulebook
    live = LiveEngine(start(demo))
    try:
        await publish_rulebook(files=encoded(demo_files(engagement=20)), note="x", published_by="t")
        old = live.current
        pids = old.pool.worker_pids()
        async with live.lease() as leased:
            assert await live.refresh()
            new = live.current
            assert new is not old
            assert leased is old
            assert new.pool.worker_pids() == pids  # no process started for the swap
            assert live.leased(old) == 1
            # In-flight work finishes on its version, new work uses the new one, on the same
            # worker (it keeps both compiled).
            before = await leased.evaluate(EvaluationInput.model_validate(PROBE))
            after = await new.evaluate(EvaluationInput.model_validate(PROBE))
            again = await leased.evaluate(EvaluationInput.model_validate(PROBE))
            assert before.rulebook_version == again.rulebook_version == demo.version
            assert after.rulebook_version == new.version != demo.version
        assert live.leased(old) == 0
        assert all(alive(pid) for pid in pids)
        assert not await live.refresh()  # already current: nothing to do
    finally:
        await live.close()
    assert not any(alive(pid) for pid in pids)


async def test_a_version_that_cannot_run_is_not_swapped_in(
    app: Starlette, live_restored: LiveEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    demo = app.state.live.current.rulebook
    live = LiveEngine(start(demo))
    try:
        await publish_rulebook(files=encoded(demo_files(engagement=25)), note="x", published_by="t")

        def broken(self: EnginePool, inputs: list[EvaluationInput], **_: object) -> list[object]:
            return [EngineError("durable_rules assert_facts failed: 303") for _ in inputs]

        monkeypatch.setattr(EnginePool, "evaluate_batch_sync", broken)
        assert not await live.refresh()
        assert live.version == demo.version
        assert not await live.refresh()  # the failed version is not retried every poll
        await RulebookVersion.filter(active=True).update(active=False)
    finally:
        await live.close()


async def test_a_notification_wakes_the_follower_before_its_next_poll(
    app: Starlette, live_restored: LiveEngine
) -> None:
    demo = app.state.live.current.rulebook
    live = LiveEngine(start(demo))
    follower = asyncio.create_task(live.follow(3600))  # the poll alone would never see it
    try:
        await asyncio.sleep(0.2)
        done = await publish_rulebook(
            files=encoded(demo_files(engagement=21)), note="x", published_by="t"
        )
        live.on_message("activated", done.row.version)
        for _ in range(400):
            if live.version == done.row.version:
                break
            await asyncio.sleep(0.05)
        assert live.version == done.row.version
    finally:
        follower.cancel()
        await asyncio.gather(follower, return_exceptions=True)
        await live.close()


PROBE = {"lead": {"email": "a@b.co"}, "now": "2026-01-15T12:00:00Z"}
