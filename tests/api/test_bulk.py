"""Bulk evaluation: same decisions as one by one, round robin across a batch, batched SQL."""

from __future__ import annotations

import gc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from starlette.applications import Starlette

from api.bulk import all_lead_ids, decaying_lead_ids, evaluate_leads
from api.engine import RulesEngine
from api.enums import EvaluationTrigger, HandoffStatus, LifecycleStage
from api.models import (
    Account,
    Activity,
    DomainEvent,
    Evaluation,
    Handoff,
    Lead,
    LeadStageChange,
    SalesRep,
)
from rules import load_rulebook
from rules.record import PackedInput
from tests.api.rulebook_data import demo_files, write_rulebook
from tests.conftest import SqlCounter

NOW = datetime.now(UTC)


async def hot_leads(n: int, offset: int = 0) -> list[int]:
    """n enterprise VPs in the US with a demo request a day ago: each one an MQL."""
    await Account.bulk_create(
        [Account(domain=f"big{i}.com", employee_count=5000, segment="enterprise")
         for i in range(offset, offset + n)]
    )  # fmt: skip
    accounts = dict(await Account.all().values_list("domain", "id"))
    await Lead.bulk_create(
        [
            Lead(email=f"vp@big{i}.com", title="VP Sales", seniority="vp", country="US",
                 account_id=accounts[f"big{i}.com"])
            for i in range(offset, offset + n)
        ]
    )  # fmt: skip
    ids = cast(
        list[int], await Lead.filter(email__startswith="vp@big").values_list("id", flat=True)
    )
    new_ids = sorted(ids)[-n:]
    await Activity.bulk_create(
        [
            Activity(lead_id=i, type="demo_request", occurred_at=NOW - timedelta(days=1),
                     external_id=f"demo-{i}")
            for i in new_ids
        ]
    )  # fmt: skip
    return new_ids


def engine_of(app: Starlette) -> RulesEngine:
    engine: RulesEngine = app.state.engine
    return engine


async def test_bulk_evaluation_moves_routes_round_robin_and_records(app: Starlette) -> None:
    ana = await SalesRep.create(email="ana@x.test", name="Ana", territory="NA",
                                segments=["enterprise"], capacity=50)  # fmt: skip
    ben = await SalesRep.create(email="ben@x.test", name="Ben", territory="NA",
                                segments=["enterprise"], capacity=50)  # fmt: skip
    ids = await hot_leads(10)
    summary = await evaluate_leads(engine=engine_of(app), lead_ids=ids, batch_size=4, now=NOW)
    assert (summary.evaluated, summary.moved, summary.handoffs) == (10, 10, 10)
    assert (summary.skipped, summary.failed) == (0, 0)
    assert await Lead.filter(stage=LifecycleStage.MQL).count() == 10
    assert await Evaluation.filter(trigger=EvaluationTrigger.BULK).count() == 10
    assert await LeadStageChange.filter(applied=True, evaluation_id__isnull=False).count() == 10
    per_rep = {
        rep.email: await Handoff.filter(owner_id=rep.id, status=HandoffStatus.PENDING).count()
        for rep in (ana, ben)
    }
    assert per_rep == {"ana@x.test": 5, "ben@x.test": 5}  # round robin held across batches
    for handoff in await Handoff.all():
        evaluation = await Evaluation.get(id=handoff.evaluation_id)  # type: ignore[attr-defined]
        assert evaluation.lead_id == handoff.lead_id  # type: ignore[attr-defined]
    again = await evaluate_leads(engine=engine_of(app), lead_ids=ids, now=NOW)
    assert (again.evaluated, again.moved, again.handoffs) == (10, 0, 0)
    # from mql nothing moves: a new decision (other fired set), recorded once
    assert again.recorded == 10
    third = await evaluate_leads(engine=engine_of(app), lead_ids=ids, now=NOW)
    # the same decisions: no row appended, scores and evaluation time updated in place
    assert (third.evaluated, third.recorded) == (10, 0)
    assert await Evaluation.all().count() == 20
    assert await DomainEvent.filter(kind="evaluation").count() == 20
    later = NOW + timedelta(minutes=5)
    await evaluate_leads(engine=engine_of(app), lead_ids=ids, now=later)
    assert await Evaluation.all().count() == 20
    # round robin would now pick another rep for these MQLs, but they are not handed off again:
    # the would-be pick is not a decision
    await SalesRep.filter(id=ana.id).update(last_assigned_at=NOW - timedelta(days=30))
    await evaluate_leads(engine=engine_of(app), lead_ids=ids, now=later)
    assert await Evaluation.all().count() == 20
    assert {lead.evaluated_at for lead in await Lead.filter(id__in=ids)} == {later}


async def test_statements_per_batch_do_not_grow_with_its_size(
    app: Starlette, sql_counter: SqlCounter
) -> None:
    await SalesRep.create(email="ana@x.test", name="Ana", territory="NA", segments=["enterprise"])
    counts = []
    for n, offset in ((5, 0), (40, 100)):
        ids = await hot_leads(n, offset)
        sql_counter.reset()
        await evaluate_leads(engine=engine_of(app), lead_ids=ids, now=NOW)
        counts.append(len(sql_counter.statements))
    assert counts[0] == counts[1], counts


async def test_lead_selection_for_the_schedule(app: Starlette) -> None:
    ids = await hot_leads(3)
    await evaluate_leads(engine=engine_of(app), lead_ids=ids, now=NOW)
    await Lead.filter(id=ids[0]).update(stage=LifecycleStage.CUSTOMER)
    assert await all_lead_ids() == ids
    assert await decaying_lead_ids() == ids[1:]


async def test_a_crash_inside_a_batch_fails_only_its_lead(
    app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One lead's engine crash (a segfault in its worker) is counted as failed; the rest of
    its batch is evaluated and written, and the next batch runs on a replaced worker."""
    engine = engine_of(app)
    ids = await hot_leads(6)
    crash_on = 2

    evaluate = engine.pool.evaluate_batch_packed

    async def with_fault(inputs: list[PackedInput], **options: Any) -> list[Any]:
        faults = {crash_on: "segfault"} if len(inputs) == len(ids) else {}
        return await evaluate(inputs, _faults=faults, **options)

    monkeypatch.setattr(engine.pool, "evaluate_batch_packed", with_fault)
    summary = await evaluate_leads(engine=engine, lead_ids=ids, now=NOW)
    assert (summary.evaluated, summary.failed) == (5, 1)
    evaluated = set(cast(list[int], await Evaluation.all().values_list("lead_id", flat=True)))
    assert evaluated == set(ids) - {ids[crash_on]}
    retry = await evaluate_leads(engine=engine, lead_ids=[ids[crash_on]], now=NOW)
    assert (retry.evaluated, retry.failed) == (1, 0)


async def test_a_lead_whose_rows_do_not_validate_fails_alone(app: Starlette) -> None:
    """A row the input model refuses (an account with a negative head count) fails its own
    lead, as an engine error would; the rest of its batch is evaluated and written (main
    failed the whole run with pydantic's ValidationError)."""
    ids = await hot_leads(4)
    bad = await Lead.get(id=ids[1])
    await Account.filter(id=bad.account_id).update(employee_count=-1)  # type: ignore[attr-defined]
    summary = await evaluate_leads(engine=engine_of(app), lead_ids=ids, now=NOW)
    assert (summary.evaluated, summary.failed) == (3, 1)
    evaluated = set(cast(list[int], await Evaluation.all().values_list("lead_id", flat=True)))
    assert evaluated == set(ids) - {ids[1]}


@pytest.mark.parametrize("batch_size", [1, 200], ids=["across-batches", "in-one-batch"])
async def test_waiting_leads_are_routed_round_robin(app: Starlette, batch_size: int) -> None:
    """Leads already at the handoff stage with no owner are routed on their evaluation: the
    next batch (read while this one is written) sees those picks, and so does the next lead of
    the same batch (they all went to one rep when routed on the batch's first evaluation)."""
    ana = await SalesRep.create(email="ana@x.test", name="Ana", territory="NA",
                                segments=["enterprise"], capacity=50)  # fmt: skip
    ben = await SalesRep.create(email="ben@x.test", name="Ben", territory="NA",
                                segments=["enterprise"], capacity=50)  # fmt: skip
    ids = await hot_leads(4)
    await Lead.filter(id__in=ids).update(stage=LifecycleStage.MQL)
    summary = await evaluate_leads(
        engine=engine_of(app), lead_ids=ids, batch_size=batch_size, now=NOW
    )
    assert (summary.evaluated, summary.moved, summary.handoffs) == (4, 0, 4)
    per_rep = {
        rep.email: await Handoff.filter(owner_id=rep.id, status=HandoffStatus.PENDING).count()
        for rep in (ana, ben)
    }
    assert per_rep == {"ana@x.test": 2, "ben@x.test": 2}


async def test_an_engine_on_a_shared_pool_routes_with_its_own_version(
    app: Starlette, tmp_path: Path
) -> None:
    """A live swap keeps the worker processes (``with_rulebook``): the second pass of a bulk
    run, which routes the leads moving into the handoff stage, must evaluate with the run's
    version, not the one the pool was started with. (Merge regression: it called the pool
    without naming its rulebook.)"""
    await SalesRep.create(email="ana@x.test", name="Ana", territory="NA", segments=["enterprise"])
    files = demo_files()
    for name in ("sla.yaml", "examples.yaml"):
        files[name] = files[name].replace("sla_hot_intent", "sla_hot_intent_v2")
    candidate = load_rulebook(write_rulebook(tmp_path / "v2", files))
    engine = engine_of(app).with_rulebook(candidate)
    assert engine.version != engine_of(app).version
    ids = await hot_leads(3)
    summary = await evaluate_leads(engine=engine, lead_ids=ids, now=NOW)
    assert summary.handoffs == 3
    rows = await Evaluation.filter(lead_id__in=ids)
    assert {row.rulebook_version for row in rows} == {candidate.version}
    fired = [cast(list[str], f)[0] for row in rows for f in row.fired]
    assert "sla_hot_intent_v2" in fired
    assert "sla_hot_intent" not in fired


async def test_a_run_leaves_the_heap_it_found_out_of_collection(
    app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The objects alive before a run are frozen (``gc.freeze``) while it runs, and collected
    as before once it ends, also when it fails."""
    engine = engine_of(app)
    ids = await hot_leads(3)
    frozen: list[int] = []
    evaluate = engine.pool.evaluate_batch_packed

    async def spy(inputs: list[PackedInput], **options: Any) -> list[Any]:
        frozen.append(gc.get_freeze_count())
        return await evaluate(inputs, **options)

    monkeypatch.setattr(engine.pool, "evaluate_batch_packed", spy)
    before = gc.get_freeze_count()
    await evaluate_leads(engine=engine, lead_ids=ids, now=NOW)
    assert frozen
    assert min(frozen) > before
    assert gc.get_freeze_count() == before

    async def broken(inputs: list[PackedInput], **options: Any) -> list[Any]:
        raise RuntimeError("boom")

    monkeypatch.setattr(engine.pool, "evaluate_batch_packed", broken)
    with pytest.raises(RuntimeError):
        await evaluate_leads(engine=engine, lead_ids=ids, now=NOW)
    assert gc.get_freeze_count() == before
