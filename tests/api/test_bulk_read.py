"""Bulk evaluation's lean reads and writes give what the ORM path gives."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from starlette.applications import Starlette

from api.bulk import all_lead_ids, evaluate_leads
from api.bulk_plan import RepsText, stored_input
from api.bulk_read import campaign_keys, connection, read_batch, read_batch_packed
from api.bulk_write import lock_versions, touch_reps, update_leads
from api.demo import seed_demo
from api.engine import RulesEngine
from api.enums import LifecycleStage
from api.evaluations import pack_input
from api.facts import _active_adjustments, build_inputs, reps_now
from api.models import Activity, Lead, SalesRep, TargetingAdjustment
from rules import EvaluationInput, RepData
from rules.record import PackedResult, column_json, rows_text
from tests.api.lead_data import ANCHOR, lead_with_account_and_campaign


async def _packed_equal(
    ids: list[int], inputs: dict[int, EvaluationInput], reps: list[RepData]
) -> None:
    """The inputs read as values are the inputs read as models, and their record text (the
    worker's) is ``pack_input``'s text of those (what main stored), with and without reps."""
    states, packed = await read_batch_packed(
        ids,
        now=ANCHOR,
        lookback_days=90,
        campaigns=await campaign_keys(),
        adjustments=await _active_adjustments(ANCHOR),
        reps=reps,
    )
    assert [s.id for s in states] == ids
    texts = RepsText()
    assert any(inputs[i].adjustments for i in ids)
    assert any(inputs[i].account.annual_revenue for i in ids)
    for i in ids:
        model = packed[i].model()
        assert model == inputs[i]
        assert model.model_dump_json() == inputs[i].model_dump_json()
        record = PackedResult._make([""] * len(PackedResult._fields))
        record = record._replace(input=rows_text(packed[i].rows))
        for routed in (False, True):
            stored = stored_input(record, packed[i], texts, routed=routed)
            assert stored == column_json(pack_input(inputs[i], routed=routed)), i


async def test_lean_inputs_equal_the_orm_inputs(app: Starlette) -> None:
    """Every field of every input (lead, account with revenue, campaign, activities,
    adjustments by segment and campaign, reps) as ``build_inputs`` reads it."""
    lead, campaign = await lead_with_account_and_campaign(120)
    await Activity.create(
        lead_id=lead.id,
        type="page_view",
        occurred_at=ANCHOR - timedelta(hours=3, microseconds=17),
        properties={"path": "/pricing", "n": 2},
    )
    for scope, value in (("segment", "enterprise"), ("campaign", campaign.key)):
        await TargetingAdjustment.create(
            rule="r", score="fit", delta=-5.5, scope_kind=scope, scope_value=value,
            reason="test", rulebook_version="v", starts_at=ANCHOR - timedelta(days=1),
            expires_at=ANCHOR + timedelta(days=1),
        )  # fmt: skip
    ids = await all_lead_ids()
    leads = await Lead.filter(id__in=ids).order_by("id")
    expected = await build_inputs(leads=leads, now=ANCHOR, lookback_days=90)
    states, inputs = await read_batch(
        ids,
        now=ANCHOR,
        lookback_days=90,
        campaigns=await campaign_keys(),
        adjustments=await _active_adjustments(ANCHOR),
        reps=await reps_now(ANCHOR),
    )
    assert [s.id for s in states] == ids
    await _packed_equal(ids, inputs, reps=await reps_now(ANCHOR))
    # activity properties are not read: no rule reads them, no record keeps them
    assert any(a.properties for i in expected.values() for a in i.activities)
    assert all(not a.properties for i in inputs.values() for a in i.activities)
    wanted = {
        i: inp.model_copy(
            update={"activities": [a.model_copy(update={"properties": {}}) for a in inp.activities]}
        )
        for i, inp in expected.items()
    }
    assert inputs == wanted
    # built without validation: the same types too (an int for a float would differ here)
    assert {i: inp.model_dump_json() for i, inp in inputs.items()} == {
        i: inp.model_dump_json() for i, inp in wanted.items()
    }
    assert all(EvaluationInput.model_validate(inp.model_dump()) == inp for inp in inputs.values())
    assert len(inputs[lead.id].adjustments) == 2
    for state, orm in zip(states, leads, strict=True):
        assert (state.stage, state.owner_id, state.version, state.created_at) == (
            orm.stage, orm.owner_id, orm.version, orm.created_at  # type: ignore[attr-defined]
        )  # fmt: skip
        assert (state.scores, state.decision, state.stage_entered_at) == (
            orm.scores, orm.decision, orm.stage_entered_at
        )  # fmt: skip


async def test_lean_update_writes_what_the_orm_reads_back(app: Starlette) -> None:
    await seed_demo(leads=10, anchor=ANCHOR.date())
    a, b = (await all_lead_ids())[:2]
    at = ANCHOR + timedelta(microseconds=5)
    await update_leads(
        [
            (a, {"scores": {"fit": 12.5}, "fit_score": 12.5, "stage": LifecycleStage.MQL,
                 "mql_at": at, "version": 7, "evaluated_at": at, "rescore_at": None}),
            (b, {"evaluated_at": at, "rescore_at": at, "decision": "d" * 32}),
        ],
        ANCHOR,
    )  # fmt: skip
    first, second = await Lead.get(id=a), await Lead.get(id=b)
    assert (first.scores, first.fit_score, first.stage, first.mql_at) == (
        {"fit": 12.5}, 12.5, LifecycleStage.MQL, at
    )  # fmt: skip
    assert (first.version, first.evaluated_at, first.rescore_at) == (7, at, None)
    assert (second.decision, second.rescore_at, second.updated_at) == ("d" * 32, at, ANCHOR)
    assert await lock_versions([a, b]) == {a: 7, b: second.version}


async def test_reps_are_touched_in_one_statement(
    app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    reps = [
        await SalesRep.create(email=f"r{i}@x.test", name=f"R{i}", territory="NA") for i in range(3)
    ]
    stamps = {reps[0].id: ANCHOR + timedelta(microseconds=1), reps[1].id: ANCHOR}
    db = connection()
    sent: list[str] = []
    caller = asyncio.current_task()

    def counted(name: str) -> Any:
        send = getattr(db, name)

        async def call(sql: str, *args: Any, **kwargs: Any) -> Any:
            # Only the statements of the call under test: the app's background tasks share
            # this connection, and their queries come from other tasks (once counted here).
            if asyncio.current_task() is caller:
                sent.append(sql)
            return await send(sql, *args, **kwargs)

        return call

    for name in ("execute_query", "execute_many", "execute_script", "execute_insert"):
        monkeypatch.setattr(db, name, counted(name))
    # What the app's background tasks do meanwhile: a query on the same connection.
    noise = asyncio.ensure_future(db.execute_query("SELECT 1"))
    await touch_reps(stamps)
    await noise
    monkeypatch.undo()
    assert len(sent) == 1, sent
    assert "UPDATE" in sent[0], sent
    after = {r.id: r.last_assigned_at for r in await SalesRep.all()}
    assert after == {**stamps, reps[2].id: None}


async def test_bulk_decisions_equal_one_by_one_decisions(app: Starlette) -> None:
    """The pipelined bulk run over several batches decides, per lead, what evaluating that
    lead alone from the ORM-built input decides (scores, stage, fired rules)."""
    engine: RulesEngine = app.state.engine
    await seed_demo(leads=60, anchor=ANCHOR.date())
    ids = await all_lead_ids()
    leads = await Lead.filter(id__in=ids).order_by("id")
    inputs = await build_inputs(leads=leads, now=ANCHOR, lookback_days=engine.lookback_days)
    alone = {i: await engine.pool.evaluate(inputs[i], explain=False) for i in ids}
    summary = await evaluate_leads(engine=engine, lead_ids=ids, now=ANCHOR, batch_size=16)
    assert (summary.evaluated, summary.failed) == (len(ids), 0)
    for lead in await Lead.filter(id__in=ids).order_by("id"):
        result = alone[lead.id]
        assert lead.scores == {n: s.value for n, s in result.scores.items()}, lead.id
        assert lead.stage.value == (result.stage.to_stage or result.stage.from_stage), lead.id
        assert lead.evaluated_at == ANCHOR
        assert lead.rescore_at == result.next_change_at
