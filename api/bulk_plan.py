"""The bulk job's planner: :func:`api.outcomes.plan_rows` for decisions the workers packed.

The workers send each decision as its record's JSON text (rules/record.py) and the inputs were
read as their record text (``api.bulk_read.read_batch_packed``), so planning a lead here is the
lifecycle guard, a digest and a few dicts: no result or input is walked or encoded again. The
rows equal those :func:`plan_rows` plans from the same decision (``tests/api/test_inserts.py``).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from api.bulk_read import LeadState
from api.enums import EvaluationTrigger, LifecycleStage
from api.lifecycle import guard_move
from api.models import Handoff
from api.outcomes import RowPlan, _events, lead_changes
from api.telemetry import EVALUATIONS
from rules import RepData
from rules.record import PackedInput, PackedResult, column_json

ENCODED = frozenset({"input", "fired", "contributions", "scores", "outcome"})
"""The ``Evaluation`` columns a packed plan gives as JSON text already."""


@dataclass(slots=True)
class PackedPlan(RowPlan):
    """A :class:`RowPlan` whose evaluation columns in :data:`ENCODED` are JSON text."""

    routing: list[Any] = field(default_factory=list)
    """Route, rep and why: what the outbox rows read of the outcome."""

    def final_events(self) -> list[dict[str, Any]]:
        if self.evaluation is None:
            return []
        change = self.stage_change
        return _events(
            self.lead,
            self.lead_changes,
            self.evaluation["id"],
            self.routing,
            self.handoff,
            None if change is None or not change["applied"] else
            (change["from_stage"], change["to_stage"], change["reason"], change["actor"]),
            unrouted=self.unrouted,
        )  # fmt: skip


class RepsText:
    """The ``reps`` item of stored inputs, encoded once per list of reps (a batch shares one;
    a lead routed again has the list as after the picks before it)."""

    def __init__(self) -> None:
        self._texts: dict[int, tuple[list[RepData], str]] = {}

    def of(self, reps: list[RepData]) -> str:
        known = self._texts.get(id(reps))
        if known is not None and known[0] is reps:
            return known[1]
        text = column_json([r.model_dump(mode="json", exclude_defaults=True) for r in reps])
        self._texts[id(reps)] = (reps, text)  # the list is kept: its id is not reused
        return text


def stored_input(
    result: PackedResult, fact_input: PackedInput, reps: RepsText, *, routed: bool
) -> str:
    """``api.evaluations.pack_input``'s text: the reps only when routing ran."""
    if not (routed and fact_input.reps):
        return result.input
    return f'{result.input[:-1]},"reps":{reps.of(fact_input.reps)}}}'


def plan_packed(
    *,
    handoff_stage: str,
    lead: LeadState,
    fact_input: PackedInput,
    result: PackedResult,
    trigger: EvaluationTrigger,
    now: datetime,
    has_open_handoff: bool,
    reps: RepsText,
    counts: Counter[str],
) -> PackedPlan:
    """``plan_rows`` on a packed decision (each lead's outcome counted in ``counts``, for
    :func:`count_outcomes` once per batch)."""
    stage_before = lead.stage
    target = result.to_stage
    guarded = guard_move(
        stage_before=stage_before,
        target=target,
        reason=result.reason,
        rep_id=result.rep_id,
        owner_id=lead.owner_id,
        has_open_handoff=has_open_handoff,
        handoff_stage=handoff_stage,
    )
    stage_after, refused, moved = guarded.stage_after, guarded.refused, guarded.moved
    owner_id, reaches_handoff = guarded.owner_id, guarded.reaches_handoff
    final = target or result.from_stage
    key = result.digest_text(stage_before.value, refused, routed=owner_id is not None)
    decision = hashlib.blake2b(key.encode(), digest_size=16).hexdigest()
    sla = result.sla
    evaluation: dict[str, Any] | None = None
    if decision != lead.decision:
        result = result.encoded(fact_input.rows)
        evaluation = {
            "lead_id": lead.id,
            "rulebook_version": result.rulebook_version,
            "trigger": trigger,
            "input": stored_input(result, fact_input, reps, routed=final == handoff_stage),
            "fired": result.fired,
            "contributions": result.contributions,
            "scores": result.score_rows,
            "outcome": result.outcome_json(refused),
            "stage_before": stage_before,
            "stage_after": stage_after,
            "owner_id": owner_id,
            "sla_deadline": sla[1] if sla and owner_id else None,
            "duration_ms": result.duration_ms,
            "next_change_at": result.next_change_at,
        }
    outcome = "handoff" if reaches_handoff else "moved" if moved else "refused" if refused else ""
    counts[outcome or "unchanged"] += 1
    stage_change: dict[str, Any] | None = None
    if evaluation is not None and target is not None and target != stage_before.value:
        rule = result.rule
        stage_change = {
            "lead_id": lead.id,
            "from_stage": stage_before,
            "to_stage": LifecycleStage(target),
            "applied": moved,
            "reason": (rule or "") if moved else f"refused: {refused}",
            "actor": f"rule:{rule}",
            "entered_from_at": lead.stage_entered_at or lead.created_at,
            "changed_at": now,
        }
    handoff = None
    if owner_id is not None and not has_open_handoff:
        handoff = Handoff(
            lead_id=lead.id,
            owner_id=owner_id,
            priority=sla[0] if sla else "normal",
            sla_deadline=sla[1] if sla else now,
            route=result.route,
            escalate_at=sla[2] if sla else None,
            created_at=now,
        )
    return PackedPlan(
        lead=lead,  # type: ignore[arg-type]  # LeadState has every attribute plans read
        evaluation=evaluation,
        stage_change=stage_change,
        handoff=handoff,
        lead_changes=lead_changes(
            lead,  # type: ignore[arg-type]  # as above
            result.scores,
            result.next_change_at,
            stage_after if moved else None,
            now,
            owner_id,
            decision,
        ),
        refused=refused,
        unrouted=moved and reaches_handoff and owner_id is None,
        routing=[result.route, result.rep_id, result.why],
    )


def count_outcomes(trigger: EvaluationTrigger, counts: Counter[str]) -> None:
    """The evaluation counters, once per batch and outcome (as ``plan_rows`` counts per lead)."""
    for outcome, n in counts.items():
        EVALUATIONS.labels(trigger=str(trigger), outcome=outcome).inc(n)
