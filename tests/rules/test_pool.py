"""Engine containment: a crash or hang in a worker becomes a typed error, the pool recovers."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from rules import (
    EngineCrashed,
    EnginePool,
    EngineTimeout,
    EvaluationResult,
    InvalidInput,
    PoolClosed,
    Rulebook,
    load_rulebook_files,
)
from rules.brief import BriefResult, BriefStage
from tests.rules.conftest import lead_input

VIP = lead_input(
    lead={"title": "VP Sales", "country": "US"},
    account={"employee_count": 3000},
    activities=[("demo_request", 1)],
)


@pytest.fixture(scope="module")
def pool(demo_book: Rulebook) -> Iterator[EnginePool]:
    with EnginePool(demo_book, workers=2, timeout=3) as p:
        yield p


@pytest.fixture
async def small_pool(demo_book: Rulebook) -> AsyncIterator[EnginePool]:
    async with EnginePool(demo_book, workers=1, timeout=2) as p:
        yield p


async def test_evaluate_in_worker(pool: EnginePool) -> None:
    result = await pool.evaluate(VIP)
    assert result.stage.to_stage == "mql"
    assert result.rulebook_version == pool.version


async def test_concurrent_evaluations(pool: EnginePool) -> None:
    results = await asyncio.gather(*(pool.evaluate(VIP, explain=False) for _ in range(50)))
    assert {r.stage.to_stage for r in results} == {"mql"}


@pytest.mark.parametrize("fault", ["exit", "segfault"])
async def test_worker_crash_is_typed_and_worker_replaced(
    small_pool: EnginePool, fault: str
) -> None:
    before = small_pool.worker_pids()
    with pytest.raises(EngineCrashed, match="replaced"):
        small_pool._inject_fault(fault)
    assert small_pool.worker_pids() != before
    assert (await small_pool.evaluate(VIP)).stage.to_stage == "mql"


async def test_worker_killed_mid_evaluation(small_pool: EnginePool) -> None:
    """An external SIGKILL (OOM killer, segfault) while a worker is busy. The worker is held
    busy by a hang (a slow lead is not slow enough on a fast engine: it finished before the
    kill), and the kill comes long before the call's timeout, so only the crash can end it."""
    pid = small_pool.worker_pids()[0]
    assert pid is not None
    task = asyncio.create_task(asyncio.to_thread(small_pool._inject_fault, "hang", 60.0))
    await asyncio.sleep(0.3)
    assert not task.done()
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(EngineCrashed):
        await task
    assert (await small_pool.evaluate(VIP)).stage.to_stage == "mql"


async def test_hang_becomes_timeout(small_pool: EnginePool) -> None:
    started = time.monotonic()
    with pytest.raises(EngineTimeout):
        small_pool._inject_fault("hang", timeout=0.5)
    # the hang never ends: returning at all proves the timeout; the bound only catches a
    # timeout that is ignored, with room for replacing the worker on a loaded machine
    assert time.monotonic() - started < 30
    assert (await small_pool.evaluate(VIP)).stage.to_stage == "mql"


async def test_rules_errors_cross_the_process_boundary(pool: EnginePool) -> None:
    with pytest.raises(InvalidInput, match="unknown stage"):
        await pool.evaluate(lead_input(lead={"stage": "zombie"}))


async def test_feedback_in_worker(pool: EnginePool) -> None:
    from datetime import timedelta

    from rules import FeedbackEvent
    from tests.rules.conftest import NOW

    events = [
        FeedbackEvent(
            feedback_id=f"f{i}",
            type="rejected",
            reason="too_small",
            segment="smb",
            occurred_at=NOW - timedelta(days=i),
        )
        for i in range(3)
    ]
    adjustments = await pool.evaluate_feedback(events, NOW)
    assert [a.rule for a in adjustments] == ["fb_too_small_smb"]


async def test_new_version_without_dropping_in_flight(demo_book: Rulebook) -> None:
    sources = dict(demo_book.sources)
    sources["lifecycle.yaml"] = sources["lifecycle.yaml"].replace(
        b"{field: scores.fit, gte: 40}", b"{field: scores.fit, gte: 99}"
    )
    stricter = load_rulebook_files(sources)
    async with EnginePool(demo_book, workers=2, timeout=5) as pool:
        in_flight = [asyncio.create_task(pool.evaluate(VIP)) for _ in range(20)]
        await asyncio.sleep(0)
        pool.load(stricter)
        after = await pool.evaluate(VIP)
        done = await asyncio.gather(*in_flight)
    assert all(r.rulebook_version in {demo_book.version, stricter.version} for r in done)
    assert after.rulebook_version == stricter.version
    assert "mql_demo_request" not in after.fired_names


async def test_closed_pool_refuses_work(demo_book: Rulebook) -> None:
    pool = EnginePool(demo_book, workers=1)
    await pool.aclose()
    with pytest.raises(PoolClosed):
        await pool.evaluate(VIP)


def test_sync_api_for_cli_and_bench(pool: EnginePool) -> None:
    assert pool.evaluate_sync(VIP).stage.to_stage == "mql"


async def test_worker_dead_while_idle_is_replaced_silently(small_pool: EnginePool) -> None:
    pid = small_pool.worker_pids()[0]
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    await asyncio.sleep(0.2)
    assert (await small_pool.evaluate(VIP)).stage.to_stage == "mql"
    assert small_pool.worker_pids()[0] != pid


BATCH = [VIP, lead_input(lead={"country": "US"}), VIP, lead_input(account={"employee_count": 5})]


async def test_a_batch_is_one_round_trip_per_worker_and_matches_one_by_one(
    pool: EnginePool,
) -> None:
    inputs = BATCH * 10
    batched = await pool.evaluate_batch(inputs, explain=True)
    single = [await pool.evaluate(inp) for inp in inputs[:4]]
    assert [r.model_copy(update={"duration_ms": 0}) for r in batched[:4]] == [  # type: ignore[union-attr]
        r.model_copy(update={"duration_ms": 0}) for r in single
    ]
    assert all(isinstance(r, EvaluationResult) for r in batched)


@pytest.mark.parametrize(("fault", "error"), [("segfault", EngineCrashed), ("exit", EngineCrashed),
                                              ("hang", EngineTimeout)])  # fmt: skip
def test_a_crash_or_hang_inside_a_batch_fails_only_its_lead(
    demo_book: Rulebook, fault: str, error: type[Exception]
) -> None:
    with EnginePool(demo_book, workers=1, timeout=1) as small:
        before = small.worker_pids()
        outcomes = small.evaluate_batch_sync(BATCH * 2, _faults={5: fault})
        assert isinstance(outcomes[5], error)
        others = [o for i, o in enumerate(outcomes) if i != 5]
        assert all(isinstance(o, EvaluationResult) for o in others)
        assert [o.stage.to_stage for o in others[:2]] == ["mql", None]  # type: ignore[union-attr]
        assert small.worker_pids() != before  # the worker was replaced
        again = small.evaluate_batch_sync(BATCH)
        assert all(isinstance(o, EvaluationResult) for o in again)


def test_bad_input_in_a_batch_is_that_leads_typed_error(pool: EnginePool) -> None:
    bad = lead_input(lead={"stage": "limbo"})
    outcomes = pool.evaluate_batch_sync([VIP, bad, VIP])
    assert isinstance(outcomes[1], InvalidInput)
    assert isinstance(outcomes[0], EvaluationResult)
    assert isinstance(outcomes[2], EvaluationResult)


def test_brief_batches_keep_what_a_simulation_counts_and_contain_faults(
    demo_book: Rulebook,
) -> None:
    """Brief results (rules/brief.py) carry the full results' fired names, score values, stage
    and pick; a crash, a hang or bad input fails only its own lead, as in full batches."""
    with EnginePool(demo_book, workers=1, timeout=1) as small:
        inputs = [*BATCH, lead_input(lead={"stage": "limbo"}), *BATCH]
        full = small.evaluate_batch_sync(inputs)
        brief = small.evaluate_brief_sync(inputs, _faults={6: "exit", 7: "hang"})
        assert isinstance(brief[4], InvalidInput)
        assert isinstance(brief[6], EngineCrashed)
        assert isinstance(brief[7], EngineTimeout)
        for i in (0, 1, 2, 3, 5, 8):
            f, b = full[i], brief[i]
            assert isinstance(f, EvaluationResult)
            assert isinstance(b, BriefResult)
            assert b.rulebook_version == f.rulebook_version == demo_book.version
            assert b.fired_names == f.fired_names
            assert b.score_values == {n: s.value for n, s in f.scores.items()}
            assert b.stage == BriefStage(**f.stage.model_dump())
            assert (b.routing.route, b.routing.rep_id) == (f.routing.route, f.routing.rep_id)
        assert [b.stage.to_stage for b in brief[:2]] == ["mql", None]  # type: ignore[union-attr]
