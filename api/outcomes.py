"""Turning an engine result into rows: what one evaluation writes, decided without I/O.

Both the single-lead path (api/qualification.py) and the bulk path (api/bulk.py) plan with
:func:`plan_rows`: the rows as plain field values, which the bulk writer turns straight into
``COPY`` / multi-row ``INSERT`` values (a tortoise model per row cost more than the rest of the
planning). :func:`plan_outcome` makes models of the same values for the paths that save them
one by one (single lead, simulation).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from json.encoder import c_make_encoder, encode_basestring_ascii  # type: ignore[attr-defined]
from typing import Any, ParamSpec

from api.enums import EvaluationTrigger, LifecycleStage
from api.evaluations import ROUTING_KEYS as _ROUTING
from api.evaluations import Plain, pack_input, pack_result, plain_result
from api.lifecycle import guard_move
from api.models import DomainEvent, Evaluation, Handoff, Lead, LeadStageChange
from api.stage_moves import stage_changed_event
from api.telemetry import count_evaluation
from rules import EvaluationInput, EvaluationResult

P = ParamSpec("P")


@dataclass(slots=True)
class RowPlan:
    """One evaluation's writes as field values (``Evaluation`` / ``LeadStageChange`` columns by
    field name); the handoff, rare, as a model. The writer links them once the evaluation has
    its id (:meth:`link`).

    ``evaluation`` is None when the decision is the one already in force (issue 9): nothing is
    appended, only the lead's scores and times change in place.
    """

    lead: Lead
    evaluation: dict[str, Any] | None
    stage_change: dict[str, Any] | None
    handoff: Handoff | None
    lead_changes: dict[str, object]
    refused: str | None
    unrouted: bool

    def link(self, evaluation_id: int) -> None:
        """After the evaluation got its id: point the other rows at it."""
        assert self.evaluation is not None
        self.evaluation["id"] = evaluation_id
        self.lead_changes["last_evaluation_id"] = evaluation_id
        if self.stage_change is not None:
            self.stage_change["evaluation_id"] = evaluation_id
        if self.handoff is not None:
            self.handoff.evaluation_id = evaluation_id

    def final_events(self) -> list[dict[str, Any]]:
        """The outbox rows (``DomainEvent`` field values), once the rows have their ids."""
        if self.evaluation is None:
            return []
        change = self.stage_change
        return _events(
            self.lead,
            self.lead_changes,
            self.evaluation["id"],
            self.evaluation["outcome"]["routing"],
            self.handoff,
            None if change is None or not change["applied"] else
            (change["from_stage"], change["to_stage"], change["reason"], change["actor"]),
            unrouted=self.unrouted,
        )  # fmt: skip


@dataclass(slots=True)
class OutcomePlan:
    """Unsaved rows for one evaluation (:class:`RowPlan` as models); ids that link them are
    filled in by the writer."""

    lead: Lead
    evaluation: Evaluation | None
    stage_change: LeadStageChange | None
    handoff: Handoff | None
    lead_changes: dict[str, object]
    refused: str | None
    unrouted: bool

    def link(self) -> None:
        """After the evaluation (and handoff) got ids: point the other rows at them."""
        if self.evaluation is None:
            return
        self.lead_changes["last_evaluation_id"] = self.evaluation.id
        if self.stage_change is not None:
            self.stage_change.evaluation_id = self.evaluation.id
        if self.handoff is not None:
            self.handoff.evaluation_id = self.evaluation.id

    def final_events(self) -> list[DomainEvent]:
        if self.evaluation is None:
            return []
        change = self.stage_change
        routing = self.evaluation.outcome["routing"]
        assert isinstance(routing, list)
        events = _events(
            self.lead,
            self.lead_changes,
            self.evaluation.id,
            routing,
            self.handoff,
            None if change is None or not change.applied else
            (change.from_stage, change.to_stage, change.reason, change.actor),
            unrouted=self.unrouted,
        )  # fmt: skip
        return [DomainEvent(**event) for event in events]


def _events(
    lead: Lead,
    lead_changes: dict[str, object],
    evaluation_id: int,
    routing: list[Any],
    handoff: Handoff | None,
    applied: tuple[LifecycleStage, LifecycleStage, str | None, str | None] | None,
    *,
    unrouted: bool,
) -> list[dict[str, Any]]:
    """What the outbox gets for one recorded evaluation: the evaluation, its handoff, the
    applied stage move, or a lead that reached the handoff stage with no rep to take it."""
    events: list[dict[str, Any]] = [
        {"kind": "evaluation", "subject_id": lead.id, "payload": {"id": evaluation_id}}
    ]
    if handoff is not None:
        events.append(
            {
                "kind": "handoff",
                "subject_id": handoff.owner_id,  # type: ignore[attr-defined]
                "payload": {"id": handoff.id},
            }
        )
    if applied is not None:
        from_stage, to_stage, reason, actor = applied
        owner = lead_changes.get("owner_id", lead.owner_id)  # type: ignore[attr-defined]
        events.append(
            stage_changed_event(
                lead.id,
                from_stage,
                to_stage,
                reason=reason,
                actor=actor or "rules",
                owner=owner if isinstance(owner, int) else None,
            )
        )
    if unrouted:
        why = dict(zip(_ROUTING, routing[:3], strict=True))
        payload = {"lead": lead.id, "why": why}
        events.append({"kind": "handoff_unrouted", "subject_id": lead.id, "payload": payload})
    return events


def _as_models(plan: Callable[P, RowPlan]) -> Callable[P, OutcomePlan]:
    """``plan``, with the rows it plans made into unsaved models."""

    def models(*args: P.args, **kwargs: P.kwargs) -> OutcomePlan:
        rows = plan(*args, **kwargs)
        return OutcomePlan(
            lead=rows.lead,
            evaluation=Evaluation(**rows.evaluation) if rows.evaluation is not None else None,
            stage_change=LeadStageChange(**rows.stage_change) if rows.stage_change else None,
            handoff=rows.handoff,
            lead_changes=rows.lead_changes,
            refused=rows.refused,
            unrouted=rows.unrouted,
        )

    return models


def plan_rows(
    *,
    handoff_stage: str,
    lead: Lead,
    fact_input: EvaluationInput,
    result: EvaluationResult | Plain,
    trigger: EvaluationTrigger,
    now: datetime,
    has_open_handoff: bool,
) -> RowPlan:
    """Apply the lifecycle guards to what the rules asked for.

    ``result``: the engine's plain data (the bulk path, as the workers return it) or a result
    model (single lead), planned alike. The rulebook validator already refuses backward
    transitions, so a refusal here means the rules and the lifecycle disagree: it is recorded
    (LeadStageChange.applied false) instead.
    """
    data = plain_result(result)
    stage, routing, sla = data["stage"], data["routing"], data["sla"]
    stage_before = lead.stage
    target = stage["to_stage"]
    guarded = guard_move(
        stage_before=stage_before,
        target=target,
        reason=stage.get("reason"),
        rep_id=routing["rep_id"],
        owner_id=lead.owner_id,  # type: ignore[attr-defined]
        has_open_handoff=has_open_handoff,
        handoff_stage=handoff_stage,
    )
    stage_after, refused, moved = guarded.stage_after, guarded.refused, guarded.moved
    owner_id, reaches_handoff = guarded.owner_id, guarded.reaches_handoff
    final = target or stage["from_stage"]
    decision = decision_digest(data, stage_before.value, refused, routed=owner_id is not None)
    evaluation: dict[str, Any] | None = None
    if decision != lead.decision:
        evaluation = {
            "lead_id": lead.id,
            "rulebook_version": data["rulebook_version"],
            "trigger": trigger,
            "input": pack_input(fact_input, routed=final == handoff_stage),
            **pack_result(data),
            "stage_before": stage_before,
            "stage_after": stage_after,
            "owner_id": owner_id,
            "sla_deadline": sla["deadline"] if sla and owner_id else None,
            "duration_ms": data["duration_ms"],
            "next_change_at": data["next_change_at"],
        }
        evaluation["outcome"]["refused_transition"] = refused
    outcome = "handoff" if reaches_handoff else "moved" if moved else "refused" if refused else ""
    count_evaluation(str(trigger), outcome or "unchanged")
    stage_change: dict[str, Any] | None = None
    if evaluation is not None and target is not None and target != stage_before.value:
        rule = stage.get("rule")
        stage_change = {
            "lead_id": lead.id,
            "from_stage": stage_before,
            "to_stage": LifecycleStage(target),
            "applied": moved,
            "reason": (rule or "") if moved else f"refused: {refused}",
            "actor": f"rule:{rule}",
            "entered_from_at": lead.stage_entered_at or lead.created_at,
            "changed_at": now,  # the lead's stage_entered_at below, so the next change agrees
        }
    handoff = None
    if owner_id is not None and not has_open_handoff:
        handoff = Handoff(
            lead_id=lead.id,
            owner_id=owner_id,
            priority=sla["priority"] if sla else "normal",
            sla_deadline=sla["deadline"] if sla else now,
            route=routing["route"],
            escalate_at=sla.get("escalate_at") if sla else None,
            created_at=now,  # the evaluation's clock: the SLA and escalation count from it
        )
    return RowPlan(
        lead=lead,
        evaluation=evaluation,
        stage_change=stage_change,
        handoff=handoff,
        lead_changes=lead_changes(
            lead,
            {name: s["value"] for name, s in data["scores"].items()},
            data["next_change_at"],
            stage_after if moved else None,
            now,
            owner_id,
            decision,
        ),
        refused=refused,
        unrouted=moved and reaches_handoff and owner_id is None,
    )


plan_outcome = _as_models(plan_rows)
""":func:`plan_rows`, with the rows as unsaved models (single lead, simulation)."""


def lead_changes(
    lead: Lead,
    scores: dict[str, float],
    next_change_at: datetime | None,
    new_stage: LifecycleStage | None,
    now: datetime,
    owner_id: int | None,
    decision: str,
) -> dict[str, object]:
    """Only what differs: the version moves when something did; times always move. Shared
    with the bulk planner (``api.bulk_plan``), which reads scores from packed results."""
    changes: dict[str, object] = {}
    if scores != lead.scores:
        changes["scores"] = scores
        changes["fit_score"] = scores.get("fit", 0.0)
        changes["engagement_score"] = scores.get("engagement", 0.0)
    if new_stage is not None:
        changes["stage"] = new_stage
        changes["stage_entered_at"] = now
        if new_stage == LifecycleStage.MQL:
            changes["mql_at"] = now
    if owner_id is not None:
        changes["owner_id"] = owner_id
    if decision != lead.decision:
        changes["decision"] = decision
    if changes:
        changes["version"] = lead.version + 1
    changes["evaluated_at"] = now
    changes["rescore_at"] = next_change_at
    return changes


def decision_digest(
    result: EvaluationResult | Plain, stage_before: str, refused: str | None, *, routed: bool
) -> str:
    """What an evaluation decided, as a short hash: equal digests mean nothing to record.

    Rulebook version, the stage it started from, the fired set, the stage and SLA outcome,
    route and rep when the lead is handed off (otherwise the would-be pick only follows the
    reps' round robin and decides nothing), and the scores rounded to whole points (a decaying
    score moving by a fraction of a point is not a new decision; it is updated in place).
    """
    data = plain_result(result)
    stage, routing, sla = data["stage"], data["routing"], data["sla"]
    key = [
        data["rulebook_version"],
        stage_before,
        sorted([f["name"] for f in data["fired"]]),
        [stage["to_stage"], stage.get("rule"), stage.get("reason"), refused],
        [routing["route"], routing["rep_id"]] if routed else None,
        [sla["rule"], sla["priority"], sla["hours"]] if sla else None,
        {name: round(s["value"]) for name, s in sorted(data["scores"].items())},
    ]
    return hashlib.blake2b("".join(_DIGEST_JSON(key, 0)).encode(), digest_size=16).hexdigest()


_DIGEST_JSON = c_make_encoder(
    None, json.JSONEncoder().default, encode_basestring_ascii, None, ": ", ", ", False, False, True
)
"""``json.dumps(key)``'s text (its default options: the digests of recorded decisions must not
change), from one C encoder instead of one built per call."""
