"""Rows written from plain field values (the bulk path, planned from the engine workers' plain
data) are the rows the models write (the single-lead path, planned from result models), and
the column converters give the values tortoise's own ``to_db_value`` gives."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta, timezone
from typing import Any, cast

import pytest
from starlette.applications import Starlette
from tortoise.exceptions import ValidationError
from tortoise.models import Model

from api import inserts
from api.bulk import all_lead_ids
from api.bulk_read import LeadState, campaign_keys, connection, read_batch
from api.engine import RulesEngine
from api.enums import EvaluationTrigger, LifecycleStage
from api.facts import _active_adjustments, reps_now
from api.inserts import _table, converter, copy_rows, insert_values
from api.models import DomainEvent, Evaluation, Lead, LeadStageChange
from api.outcomes import OutcomePlan, RowPlan, decision_digest, plan_outcome, plan_rows
from rules import EvaluationInput, EvaluationResult
from tests.api.lead_data import ANCHOR, lead_with_account_and_campaign

_DETACHED: Any = inserts._DETACHED
STAMPED = {"created_at"}
"""``auto_now_add``: the wall clock at insert time, on both paths."""


async def _demo_leads(
    engine: RulesEngine, count: int
) -> tuple[list[LeadState], dict[int, EvaluationInput]]:
    """``count`` demo leads read as the bulk job reads them."""
    await lead_with_account_and_campaign(count)
    states, inputs = await read_batch(
        await all_lead_ids(),
        now=ANCHOR,
        lookback_days=engine.lookback_days,
        campaigns=await campaign_keys(),
        adjustments=await _active_adjustments(ANCHOR),
        reps=await reps_now(ANCHOR),
    )
    return states, inputs


async def _plans(engine: RulesEngine) -> list[tuple[OutcomePlan, RowPlan]]:
    """Both planners over the demo leads, every lead recording, each evaluated as a new lead:
    moves, handoffs and their events are among the rows; a third of the leads are customers
    already when planned, so that their moves are refused."""
    states, inputs = await _demo_leads(engine, 60)
    new = {
        i: inp.model_copy(update={"lead": inp.lead.model_copy(update={"stage": "new"})})
        for i, inp in inputs.items()
    }
    ordered = [new[s.id] for s in states]
    results = await engine.evaluate_batch(ordered)
    # the bulk path plans from the workers' plain data, the single-lead path from models
    plain = await engine.pool.evaluate_batch_plain(ordered, rulebook=engine.rulebook)
    plans = []
    for i, (state, result, data) in enumerate(zip(states, results, plain, strict=True)):
        assert isinstance(result, EvaluationResult)
        assert isinstance(data, dict)
        state.decision, state.owner_id = None, None
        state.stage = LifecycleStage.CUSTOMER if i % 3 == 1 else LifecycleStage.NEW
        args: dict[str, Any] = {
            "handoff_stage": engine.handoff_stage,
            "lead": cast(Lead, state),
            "fact_input": new[state.id],
            "result": result,
            "trigger": EvaluationTrigger.BULK,
            "now": ANCHOR,
            "has_open_handoff": False,
        }
        plans.append((plan_outcome(**args), plan_rows(**{**args, "result": data})))
    return plans


def _same_ids(plans: list[tuple[OutcomePlan, RowPlan]]) -> None:
    for i, (models, values) in enumerate(plans):
        assert models.evaluation is not None
        models.evaluation.id = 1_000_000 + i
        models.link()
        values.link(1_000_000 + i)
        for handoff in (models.handoff, values.handoff):
            if handoff is not None:
                handoff.id = 2_000_000 + i


def _without(model: type[Model], row: list[Any], *skip: str) -> list[Any]:
    fields = _table(model).fields
    return [v for f, v in zip(fields, row, strict=True) if f not in {*STAMPED, *skip}]


async def test_values_convert_to_the_bytes_the_models_convert_to(app: Starlette) -> None:
    plans = await _plans(app.state.engine)
    _same_ids(plans)
    kinds = {"changes": 0, "refused": 0, "handoff": 0, "lead_stage_changed": 0}
    for models, values in plans:
        assert models.evaluation is not None
        assert values.evaluation is not None
        table = _table(Evaluation)
        # two evaluations of the lead (models and plain data): all but the time taken agree
        assert _without(Evaluation, table.values(values.evaluation), "duration_ms") == _without(
            Evaluation, table.of_model(models.evaluation), "duration_ms"
        )
        assert (models.stage_change is None) == (values.stage_change is None)
        if models.stage_change is not None and values.stage_change is not None:
            kinds["changes"] += 1
            kinds["refused"] += not values.stage_change["applied"]
            table = _table(LeadStageChange)
            assert table.values(values.stage_change) == table.of_model(models.stage_change)
        events, rows = models.final_events(), values.final_events()
        assert len(events) == len(rows)
        for event, row in zip(events, rows, strict=True):
            kinds[event.kind] = kinds.get(event.kind, 0) + 1
            table = _table(DomainEvent)
            assert _without(DomainEvent, table.values(row)) == _without(
                DomainEvent, table.of_model(event)
            )
    # the comparison covered every kind of row the bulk path writes
    assert all(kinds[k] for k in ("changes", "refused", "handoff", "lead_stage_changed")), kinds
    assert kinds["evaluation"] == len(plans), kinds


async def _stored(model: type[Model], ids: list[int], *skip: str) -> list[tuple[Any, ...]]:
    """The rows as the database gives them back, without their ids and stamps."""
    table = _table(model)
    columns = [c for f, c in zip(table.fields, table.columns, strict=True)
               if f not in {*STAMPED, *skip}]  # fmt: skip
    names = ", ".join(f'"{c}"' for c in columns)
    marks = ", ".join("?" * len(ids)) if connection().capabilities.dialect == "sqlite" else ""
    where = f"id IN ({marks})" if marks else "id = ANY($1::bigint[])"
    _, rows = await connection().execute_query(
        f'SELECT {names} FROM "{model._meta.db_table}" WHERE {where} ORDER BY id',
        list(ids) if marks else [ids],
    )
    return [tuple(row) for row in rows]


async def test_values_and_models_store_the_same_rows(app: Starlette) -> None:
    """Written through ``insert_values`` and through ``copy_rows`` (COPY on PostgreSQL,
    multi-row INSERT / bulk_create on SQLite), then read back: the same rows."""
    plans = await _plans(app.state.engine)
    evaluations = [m.evaluation for m, _ in plans if m.evaluation is not None]
    await copy_rows(evaluations, key="lead_id")
    from_values = await insert_values(
        Evaluation, [v.evaluation for _, v in plans if v.evaluation is not None], key="lead_id"
    )
    assert len(set(from_values)) == len(plans)
    assert await _stored(Evaluation, [e.id for e in evaluations], "duration_ms") == await _stored(
        Evaluation, from_values, "duration_ms"
    )
    for (models, values), evaluation_id in zip(plans, from_values, strict=True):
        models.link()
        values.link(evaluation_id)
    changes = [m.stage_change for m, _ in plans if m.stage_change is not None]
    before = await _ids(LeadStageChange)
    await copy_rows(changes)
    await insert_values(LeadStageChange, [v.stage_change for _, v in plans if v.stage_change])
    after = await _ids(LeadStageChange, after=max(before, default=0))
    stored = await _stored(LeadStageChange, after, "evaluation_id")
    assert changes
    assert stored[: len(changes)] == stored[len(changes) :]
    _same_ids(plans)  # the events name the same evaluation (and handoff) ids on both sides
    events = [e for m, _ in plans for e in m.final_events()]
    before = await _ids(DomainEvent)
    await copy_rows(events)
    await insert_values(DomainEvent, [e for _, v in plans for e in v.final_events()])
    stored = await _stored(DomainEvent, await _ids(DomainEvent, after=max(before, default=0)))
    assert stored[: len(events)] == stored[len(events) :]


async def _ids(model: type[Model], after: int = 0) -> list[int]:
    ids = await model.filter(id__gt=after).order_by("id").values_list("id", flat=True)
    return cast(list[int], ids)


async def test_converters_give_what_tortoise_gives(app: Starlette) -> None:
    """Every value the bulk path writes (rows and lead changes of the plans), converted by
    ``converter`` and by the field's ``to_db_value``: equal, of the same type."""
    plans = await _plans(app.state.engine)
    _same_ids(plans)
    checked: dict[str, int] = {}

    def check(model: type[Model], row: dict[str, Any]) -> None:
        for name, value in row.items():
            field = model._meta.fields_map[name]
            theirs = field.to_db_value(value, _DETACHED)
            for detached in (False, True):
                ours = converter(field, detached=detached)(value, _DETACHED)
                assert (ours, type(ours)) == (theirs, type(theirs)), (model, name, value)
            kind = type(field).__name__
            checked[kind] = checked.get(kind, 0) + 1

    for _, values in plans:
        assert values.evaluation is not None
        check(Evaluation, values.evaluation)
        if values.stage_change is not None:
            check(LeadStageChange, values.stage_change)
        for event in values.final_events():
            check(DomainEvent, event)
        check(Lead, values.lead_changes)
    # values off the shortcuts go through tortoise (and its errors) alike
    for model, name, value in [
        (Lead, "stage", "mql"),
        (Lead, "fit_score", 3),
        (Lead, "version", 2.0),
        (Lead, "decision", None),
        (Lead, "owner_id", None),
        (Lead, "scores", "{}"),
        (Evaluation, "sla_deadline", ANCHOR.astimezone(timezone(timedelta(hours=2)))),
        (LeadStageChange, "applied", 1),
        (DomainEvent, "created_at", ANCHOR),  # auto_now_add: not stamped on a detached row
    ]:
        check(model, {name: value})
    for model, name, value in [(Lead, "decision", "x" * 33), (Lead, "stage", "nope")]:
        field = model._meta.fields_map[name]
        with pytest.raises((ValidationError, ValueError)):
            field.to_db_value(value, _DETACHED)
        with pytest.raises((ValidationError, ValueError)):
            converter(field)(value, _DETACHED)
    kinds = {"IntField", "FloatField", "BooleanField", "CharField",
             "CharEnumFieldInstance", "DatetimeField", "JSONField"}  # fmt: skip
    assert set(checked) >= kinds, checked


def _main_digest(result: EvaluationResult, stage_before: str, refused: str | None,
                 *, routed: bool) -> str:  # fmt: skip
    """The decision digest as main computed it (from the result model, ``json.dumps``)."""
    sla = result.sla
    key = [
        result.rulebook_version,
        stage_before,
        sorted(result.fired_names),
        [result.stage.to_stage, result.stage.rule, result.stage.reason, refused],
        [result.routing.route, result.routing.rep_id] if routed else None,
        [sla.rule, sla.priority, sla.hours] if sla else None,
        {name: round(s.value) for name, s in sorted(result.scores.items())},
    ]
    return hashlib.blake2b(json.dumps(key).encode(), digest_size=16).hexdigest()


async def test_decision_digests_are_main_s(app: Starlette) -> None:
    """Planned from plain data, the digests are the bytes main's planner wrote (else every lead
    would record once more after the upgrade)."""
    engine: RulesEngine = app.state.engine
    states, inputs = await _demo_leads(engine, 30)
    ordered = [inputs[s.id] for s in states]
    plain = await engine.pool.evaluate_batch_plain(ordered, rulebook=engine.rulebook)
    seen = 0
    for state, data in zip(states, plain, strict=True):
        assert isinstance(data, dict)
        model = EvaluationResult.model_validate(data)
        for stage in ("new", "mql", "customer"):
            for refused in (None, "no"):
                for routed in (False, True):
                    ours = decision_digest(data, stage, refused, routed=routed)
                    assert ours == _main_digest(model, stage, refused, routed=routed), state.id
                    seen += 1
    assert seen == len(states) * 12
