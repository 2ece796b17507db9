"""Evaluating a lead and applying the outcome: scores, stage, handoff, all in one transaction.

The rulebook decides (through durable_rules, in rules/); this module only reads the facts,
stores the evaluation, and applies what fired under the lifecycle guards.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime

from tortoise.transactions import in_transaction

from api.engine import RulesEngine
from api.enums import HOLDING, EvaluationTrigger
from api.errors import EngineFailure, NotFound
from api.facts import LeadRead, build_input, read_lead, record_ref, reps_now
from api.models import DomainEvent, Evaluation, Handoff, Lead, SalesRep
from api.outcomes import plan_outcome
from api.shares import first_step, save_shares
from rules import EvaluationInput, EvaluationResult, RulesError


@dataclass(frozen=True, slots=True)
class EvaluationOutcome:
    """What an evaluation did. ``evaluation`` is None for dry runs (nothing was written); when
    the decision was already in force it is the stored record of that decision (``recorded``
    False: no row was appended)."""

    lead: Lead
    input: EvaluationInput
    result: EvaluationResult
    evaluation: Evaluation | None
    handoff: Handoff | None
    refused_transition: str | None
    recorded: bool = True


def _now() -> datetime:
    return datetime.now(UTC)


async def evaluate_lead(
    *,
    engine: RulesEngine,
    lead_id: int,
    trigger: EvaluationTrigger,
    dry_run: bool = False,
    now: datetime | None = None,
    explain: bool = True,
) -> EvaluationOutcome:
    """Evaluate one lead; unless ``dry_run``, store the evaluation and apply its outcome.

    ``explain`` False: the result's ``not_fired`` is left empty (no record stores it; the
    engine's explainer was two thirds of its time); :func:`api.evaluations.why_not_now`
    computes it from the outcome when asked.

    The lead row stays locked from reading the facts to writing the outcome, so concurrent
    evaluations of one lead apply one after the other: no lost score update, one handoff.
    """
    now = now or _now()
    if dry_run:
        read = await _read(lead_id, lock=False)
        fact_input, result = await _run(engine, read, now)
        return EvaluationOutcome(read.lead, fact_input, result, None, None, None)
    async with in_transaction():
        read = await _read(lead_id, lock=True)
        fact_input, result = await _run(engine, read, now, explain=explain)
        return await apply_outcome(
            handoff_stage=engine.handoff_stage,
            lead=read.lead,
            fact_input=fact_input,
            result=result,
            trigger=trigger,
            now=now,
            read=read,
        )


async def _read(lead_id: int, *, lock: bool) -> LeadRead:
    """The lead (locked when asked) with its account, campaign and record in force: one
    statement (api.facts.read_lead)."""
    read = await read_lead(lead_id, lock=lock)
    if read is None:
        raise NotFound(f"no lead with id {lead_id}", field="leadId")
    return read


_LOOKBACK: dict[str, float] = {}
"""Rulebook version → its longest activity window (a walk over every condition)."""


def _lookback_days(engine: RulesEngine) -> float:
    found = _LOOKBACK.get(engine.version)
    if found is None:
        found = _LOOKBACK[engine.version] = engine.lookback_days
    return found


def _ends_at(result: EvaluationResult) -> str:
    return result.stage.to_stage or result.stage.from_stage


async def _run(
    engine: RulesEngine, read: LeadRead, now: datetime, *, explain: bool = True
) -> tuple[EvaluationInput, EvaluationResult]:
    """The input and the result. The reps are read only when routing can run: for a lead at
    the handoff stage, else once a first evaluation without them ends there (most leads
    never do; the second run is the same evaluation with the reps, so the result is the
    one a single run with the reps gives)."""
    handoff = engine.handoff_stage
    lead = read.lead
    with_reps = lead.stage.value == handoff
    lookback = _lookback_days(engine)
    fact_input = await build_input(
        lead=lead, now=now, lookback_days=lookback, reps=with_reps, known=read
    )
    result = await _evaluate(engine, lead, fact_input, explain)
    if not with_reps and _ends_at(result) == handoff:
        fact_input = fact_input.model_copy(update={"reps": await reps_now(now)})
        result = await _evaluate(engine, lead, fact_input, explain)
    return fact_input, result


async def _evaluate(
    engine: RulesEngine, lead: Lead, fact_input: EvaluationInput, explain: bool = True
) -> EvaluationResult:
    try:
        if explain:  # the engine's default: the call other callers (and fakes) know
            return await engine.evaluate(fact_input)
        return await engine.evaluate(fact_input, explain=False)
    except RulesError as exc:
        raise EngineFailure(
            f"the rule engine failed on lead {lead.id}: {exc}",
            suggestion="the evaluation was not stored; retry, and report it if it persists",
        ) from exc


@functools.cache
def _record_sql(pg: bool) -> str:
    columns = ", ".join(f'"{c}"' for c in Evaluation._meta.fields_db_projection.values())
    return f"SELECT {columns} FROM evaluation WHERE id = {'$1' if pg else '?'}"


async def _record(record_id: int) -> Evaluation | None:
    """The record in force, read raw (the ORM's query building cost more than the read)."""
    db = Evaluation._choose_db(for_write=True)
    _, rows = await db.execute_query(
        _record_sql(db.capabilities.dialect == "postgres"), [record_id]
    )
    return Evaluation._init_from_db(**rows[0]) if rows else None


async def _has_open_handoff(handoff_stage: str, lead: Lead, result: EvaluationResult) -> bool:
    """Read only when it can matter: the plan asks it of a lead that is or gets to the handoff
    stage (waiting for an owner, or handed off once); for any other lead it is never read."""
    if handoff_stage not in (lead.stage.value, result.stage.to_stage):
        return False
    return await Handoff.filter(lead_id=lead.id, status__in=HOLDING).exists()


async def apply_outcome(
    *,
    handoff_stage: str,
    lead: Lead,
    fact_input: EvaluationInput,
    result: EvaluationResult,
    trigger: EvaluationTrigger,
    now: datetime,
    read: LeadRead | None = None,
) -> EvaluationOutcome:
    """Store the evaluation and apply it under the lifecycle guards (caller holds the lock).

    ``read``: the lead as :func:`api.facts.read_lead` gave it, whose record in force is known.
    A decision in force with no record of it behind it (the record was removed, or is of
    another lead or rulebook version) is recorded again, so every outcome names its record."""
    if lead.decision is not None:
        record = (
            read.record
            if read is not None and read.lead is lead
            else await record_ref(lead.last_evaluation_id)
        )
        if record is None or record[1:] != (lead.id, result.rulebook_version):
            lead.decision = None  # nothing backs it: this evaluation writes the record
    plan = plan_outcome(
        handoff_stage=handoff_stage,
        lead=lead,
        fact_input=fact_input,
        result=result,
        trigger=trigger,
        now=now,
        has_open_handoff=await _has_open_handoff(handoff_stage, lead, result),
    )
    recorded = plan.evaluation is not None
    if plan.evaluation is not None:
        await plan.evaluation.save()
        plan.link()
    if plan.stage_change is not None:
        await plan.stage_change.save()
    if plan.handoff is not None:
        await plan.handoff.save()
        await SalesRep.filter(id=plan.handoff.owner_id).update(last_assigned_at=now)  # type: ignore[attr-defined]
        await first_step(plan.handoff, result.routing.why, now).save()
        await save_shares(result.routing.shares)
    if plan.lead_changes:
        lead.update_from_dict(plan.lead_changes)
        await lead.save(update_fields=[*plan.lead_changes, "updated_at"])
    events = plan.final_events()
    if events:
        await DomainEvent.bulk_create(events)
    evaluation = plan.evaluation
    if evaluation is None and lead.last_evaluation_id is not None:
        known = read.record_in_force() if read is not None and read.lead is lead else None
        evaluation = known or await _record(lead.last_evaluation_id)
    return EvaluationOutcome(
        lead, fact_input, result, evaluation, plan.handoff, plan.refused, recorded
    )
