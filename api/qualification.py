"""Evaluating a lead and applying the outcome: scores, stage, handoff, all in one transaction.

The rulebook decides (through durable_rules, in rules/); this module only reads the facts,
stores the evaluation, and applies what fired under the lifecycle guards.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from tortoise.transactions import in_transaction

from api.engine import RulesEngine
from api.enums import EvaluationTrigger, HandoffStatus, LifecycleStage
from api.errors import EngineFailure, IllegalTransition, NotFound
from api.facts import build_input
from api.lifecycle import check_transition
from api.locking import for_update
from api.models import DomainEvent, Evaluation, Handoff, Lead, LeadStageChange, SalesRep
from rules import EvaluationInput, EvaluationResult, RulesError


@dataclass(frozen=True, slots=True)
class EvaluationOutcome:
    """What an evaluation did. ``evaluation`` is None for dry runs (nothing was written)."""

    lead: Lead
    input: EvaluationInput
    result: EvaluationResult
    evaluation: Evaluation | None
    handoff: Handoff | None
    refused_transition: str | None


def _now() -> datetime:
    return datetime.now(UTC)


async def evaluate_lead(
    *,
    engine: RulesEngine,
    lead_id: int,
    trigger: EvaluationTrigger,
    dry_run: bool = False,
    now: datetime | None = None,
) -> EvaluationOutcome:
    """Evaluate one lead; unless ``dry_run``, store the evaluation and apply its outcome.

    The lead row stays locked from reading the facts to writing the outcome, so concurrent
    evaluations of one lead apply one after the other: no lost score update, one handoff.
    """
    now = now or _now()
    if dry_run:
        lead = await _get_lead(lead_id, lock=False)
        fact_input, result = await _run(engine, lead, now)
        return EvaluationOutcome(lead, fact_input, result, None, None, None)
    async with in_transaction():
        lead = await _get_lead(lead_id, lock=True)
        fact_input, result = await _run(engine, lead, now)
        return await apply_outcome(
            handoff_stage=engine.handoff_stage,
            lead=lead,
            fact_input=fact_input,
            result=result,
            trigger=trigger,
            now=now,
        )


async def _get_lead(lead_id: int, *, lock: bool) -> Lead:
    query = Lead.filter(id=lead_id)
    lead = await (for_update(query) if lock else query).first()
    if lead is None:
        raise NotFound(f"no lead with id {lead_id}", field="leadId")
    return lead


async def _run(
    engine: RulesEngine, lead: Lead, now: datetime
) -> tuple[EvaluationInput, EvaluationResult]:
    fact_input = await build_input(lead=lead, now=now, lookback_days=engine.lookback_days)
    try:
        result = await engine.evaluate(fact_input)
    except RulesError as exc:
        raise EngineFailure(
            f"the rule engine failed on lead {lead.id}: {exc}",
            suggestion="the evaluation was not stored; retry, and report it if it persists",
        ) from exc
    return fact_input, result


async def apply_outcome(
    *,
    handoff_stage: str,
    lead: Lead,
    fact_input: EvaluationInput,
    result: EvaluationResult,
    trigger: EvaluationTrigger,
    now: datetime,
) -> EvaluationOutcome:
    """Store the evaluation and apply it under the lifecycle guards (caller holds the lock).

    The rulebook validator already refuses backward transitions, so a refusal here means the
    rules and the lifecycle disagree: it is recorded (LeadStageChange.applied false) instead.
    """
    stage_before = lead.stage
    target = result.stage.to_stage
    refused: str | None = None
    moved = False
    if target is not None and target != stage_before.value:
        try:  # the engine checks at load that rulebook stages are lifecycle stages
            check_transition(stage_before, LifecycleStage(target), reason=result.stage.reason)
            moved = True
        except IllegalTransition as exc:
            refused = exc.message
    stage_after = LifecycleStage(target) if moved and target else stage_before

    owner_id = _routed_owner(result) if moved and stage_after.value == handoff_stage else None
    evaluation = await Evaluation.create(
        lead_id=lead.id,
        rulebook_version=result.rulebook_version,
        trigger=trigger,
        input=fact_input.model_dump(mode="json"),
        fired=[f.model_dump(mode="json") for f in result.fired],
        contributions=[c.model_dump(mode="json") for c in result.contributions],
        failed=[n.model_dump(mode="json") for n in result.not_fired],
        scores={name: s.model_dump(mode="json") for name, s in result.scores.items()},
        stage_before=stage_before,
        stage_after=stage_after,
        owner_id=owner_id,
        sla_deadline=result.sla.deadline if result.sla and owner_id else None,
        outcome={
            "stage": result.stage.model_dump(mode="json"),
            "routing": result.routing.model_dump(mode="json"),
            "sla": result.sla.model_dump(mode="json") if result.sla else None,
            "refused_transition": refused,
        },
        duration_ms=result.duration_ms,
    )
    if target is not None and target != stage_before.value:
        await LeadStageChange.create(
            lead_id=lead.id,
            from_stage=stage_before,
            to_stage=LifecycleStage(target),
            applied=moved,
            reason=(result.stage.rule or "") if moved else f"refused: {refused}",
            actor=f"rule:{result.stage.rule}",
            evaluation_id=evaluation.id,
        )
    handoff = await _hand_off(lead, evaluation, result, owner_id, now) if owner_id else None
    await _save_lead(lead, result, stage_after, moved, now, owner_id)
    events = [DomainEvent(kind="evaluation", subject_id=lead.id, payload={"id": evaluation.id})]
    if handoff is not None:
        events.append(
            DomainEvent(kind="handoff", subject_id=handoff.owner_id, payload={"id": handoff.id})  # type: ignore[attr-defined]
        )
    elif moved and stage_after.value == handoff_stage:
        events.append(
            DomainEvent(
                kind="handoff_unrouted",
                subject_id=lead.id,
                payload={"lead": lead.id, "why": result.routing.why},
            )
        )
    await DomainEvent.bulk_create(events)
    return EvaluationOutcome(lead, fact_input, result, evaluation, handoff, refused)


def _routed_owner(result: EvaluationResult) -> int | None:
    return int(result.routing.rep_id) if result.routing.rep_id is not None else None


async def _hand_off(
    lead: Lead,
    evaluation: Evaluation,
    result: EvaluationResult,
    owner_id: int,
    now: datetime,
) -> Handoff | None:
    if await Handoff.filter(lead_id=lead.id, status=HandoffStatus.PENDING).exists():
        return None
    sla = result.sla
    handoff = await Handoff.create(
        lead_id=lead.id,
        owner_id=owner_id,
        evaluation_id=evaluation.id,
        priority=sla.priority if sla else "normal",
        sla_deadline=sla.deadline if sla else now,
    )
    await SalesRep.filter(id=owner_id).update(last_assigned_at=now)
    return handoff


async def _save_lead(
    lead: Lead,
    result: EvaluationResult,
    stage: LifecycleStage,
    moved: bool,
    now: datetime,
    owner_id: int | None,
) -> None:
    """Write what changed; the version moves only when something did."""
    scores = {name: s.value for name, s in result.scores.items()}
    changes: dict[str, object] = {}
    if scores != lead.scores:
        changes["scores"] = scores
        changes["fit_score"] = scores.get("fit", 0.0)
        changes["engagement_score"] = scores.get("engagement", 0.0)
    if moved:
        changes["stage"] = stage
        if stage == LifecycleStage.MQL:
            changes["mql_at"] = now
    if owner_id is not None:
        changes["owner_id"] = owner_id
    if not changes:
        return
    lead.update_from_dict({**changes, "version": lead.version + 1})
    await lead.save(update_fields=[*changes, "version", "updated_at"])
