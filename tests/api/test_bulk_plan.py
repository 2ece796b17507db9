"""The bulk job's packed planner (records encoded by the workers) plans the rows, digests and
lead changes ``plan_rows`` plans from the workers' plain data: the bytes main wrote."""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Any, cast

from starlette.applications import Starlette

from api.bulk import all_lead_ids
from api.bulk_plan import ENCODED, RepsText, plan_packed
from api.bulk_read import campaign_keys, read_batch, read_batch_packed
from api.engine import RulesEngine
from api.enums import EvaluationTrigger, LifecycleStage
from api.facts import _active_adjustments, reps_now
from api.inserts import _table
from api.models import Evaluation, Lead
from api.outcomes import decision_digest, plan_rows
from rules.record import PackedResult, pack
from tests.api.lead_data import ANCHOR, lead_with_account_and_campaign

STAMPED = {"created_at", "duration_ms"}


def _columns(row: dict[str, Any], encoded: frozenset[str] = frozenset()) -> dict[str, Any]:
    table = _table(Evaluation)
    values = table.maker(encoded)(row)
    return {f: v for f, v in zip(table.fields, values, strict=True) if f not in STAMPED}


async def test_packed_plans_equal_plain_plans(app: Starlette) -> None:
    engine: RulesEngine = app.state.engine
    await lead_with_account_and_campaign(60)
    await Lead.all().update(stage=LifecycleStage.NEW, decision=None, owner_id=None)
    ids = await all_lead_ids()
    options: dict[str, Any] = {
        "now": ANCHOR,
        "lookback_days": engine.lookback_days,
        "campaigns": await campaign_keys(),
        "adjustments": await _active_adjustments(ANCHOR),
        "reps": await reps_now(ANCHOR),
    }
    states, inputs = await read_batch(ids, **options)
    _, packed = await read_batch_packed(ids, **options)
    plain = await engine.pool.evaluate_batch_plain([inputs[i] for i in ids])
    records = await engine.pool.evaluate_batch_packed([packed[i] for i in ids])
    texts, counts = RepsText(), Counter[str]()
    kinds: Counter[str] = Counter()
    for n, (state, data, record) in enumerate(zip(states, plain, records, strict=True)):
        assert isinstance(data, dict)
        assert isinstance(record, PackedResult)
        # packed in the parent from the plain data (a lead routed again): the same record
        rows = packed[state.id].rows
        again = pack(data, rows)
        assert again._replace(duration_ms=0) == record._replace(duration_ms=0)
        # the decision in force: the worker leaves the columns as data, written when needed
        deferred = pack(data, rows, decision_digest(data, "new", None, routed=False))
        assert deferred.columns is not None
        assert deferred.fired == ""
        assert deferred.encoded(rows)._replace(duration_ms=0) == again._replace(duration_ms=0)
        # a third are customers already: their moves are refused
        state.stage = LifecycleStage.CUSTOMER if n % 3 == 1 else LifecycleStage.NEW
        for has_open_handoff in (False, True):
            args: dict[str, Any] = {
                "handoff_stage": engine.handoff_stage,
                "trigger": EvaluationTrigger.BULK,
                "now": ANCHOR,
                "has_open_handoff": has_open_handoff,
            }
            ours = plan_packed(
                lead=state, fact_input=packed[state.id], reps=texts, counts=counts,
                result=deferred if has_open_handoff else record, **args,
            )  # fmt: skip
            theirs = plan_rows(lead=cast(Lead, state), fact_input=inputs[state.id], result=data,
                               **args)  # fmt: skip
            assert ours.evaluation is not None
            assert theirs.evaluation is not None
            assert _columns(ours.evaluation, ENCODED) == _columns(theirs.evaluation)
            assert ours.lead_changes == theirs.lead_changes
            assert ours.stage_change == theirs.stage_change
            assert (ours.refused, ours.unrouted) == (theirs.refused, theirs.unrouted)
            assert (ours.handoff is None) == (theirs.handoff is None)
            if ours.handoff is not None and theirs.handoff is not None:
                kinds["handoff"] += 1
                fields = ("lead_id", "owner_id", "priority", "sla_deadline", "route", "escalate_at")
                assert [getattr(ours.handoff, f) for f in fields] == [
                    getattr(theirs.handoff, f) for f in fields
                ]
            ours.link(7)
            theirs.link(7)
            assert ours.final_events() == theirs.final_events()
            kinds["refused"] += ours.refused is not None
            kinds["moved"] += bool(ours.stage_change and ours.stage_change["applied"])
            kinds["reps"] += '"reps":' in ours.evaluation["input"]
        for stage in ("new", "mql", "customer"):
            for refused in (None, "no \u00e9"):
                for routed in (False, True):
                    text = record.digest_text(stage, refused, routed=routed)
                    ours_digest = hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
                    assert ours_digest == decision_digest(data, stage, refused, routed=routed)
    assert all(kinds[k] for k in ("handoff", "refused", "moved", "reps")), kinds
