"""Evaluating many leads: after publishing a rulebook, on a schedule (engagement decays), or
over seeded data. Reads and writes go in batches, a fixed number of queries per batch."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast

from tortoise.transactions import in_transaction

from api.engine import RulesEngine
from api.enums import HOLDING, EvaluationTrigger, LifecycleStage
from api.facts import build_inputs
from api.inserts import insert_returning
from api.locking import for_update
from api.models import DomainEvent, Handoff, HandoffStep, Lead, LeadStageChange, SalesRep
from api.outcomes import OutcomePlan, plan_outcome
from api.shares import apply_shares, first_step, latest_shares, save_shares
from api.telemetry import BULK_LEADS
from rules import EvaluationInput, EvaluationResult, RepData, RepShare, RulesError

BATCH = 200
# Leads past these stages are sales' or final: re-evaluating them on a schedule changes nothing.
SCHEDULED_STAGES = (
    LifecycleStage.NEW,
    LifecycleStage.ENGAGED,
    LifecycleStage.MQL,
    LifecycleStage.RECYCLED,
)


@dataclass(slots=True)
class BulkSummary:
    evaluated: int = 0
    moved: int = 0
    handoffs: int = 0
    skipped: int = 0
    """Leads that changed while their batch was evaluated: their own trigger covers them."""
    failed: int = 0
    recorded: int = 0
    """Evaluations appended; the others decided what was already in force (nothing written)."""


async def evaluate_leads(
    *,
    engine: RulesEngine,
    lead_ids: Sequence[int],
    trigger: EvaluationTrigger = EvaluationTrigger.BULK,
    now: datetime | None = None,
    batch_size: int = BATCH,
) -> BulkSummary:
    """Evaluate and apply, batch by batch; each batch is one transaction."""
    now = now or datetime.now(UTC)
    summary = BulkSummary()
    progress = (
        BULK_LEADS.labels(trigger=str(trigger), state="total"),
        BULK_LEADS.labels(trigger=str(trigger), state="done"),
    )
    progress[0].set(len(lead_ids))
    progress[1].set(0)
    for start in range(0, len(lead_ids), batch_size):
        await _batch(engine, lead_ids[start : start + batch_size], trigger, now, summary)
        progress[1].set(min(start + batch_size, len(lead_ids)))
    return summary


async def decaying_lead_ids() -> list[int]:
    """Leads whose engagement still decays, in stages where a new score can still move them."""
    ids = await Lead.filter(stage__in=SCHEDULED_STAGES, engagement_score__gt=0).values_list(
        "id", flat=True
    )
    return sorted(cast(list[int], ids))


async def due_lead_ids(now: datetime, *, limit: int | None = None) -> list[int]:
    """Leads whose outcome can have changed by itself by ``now`` (their ``rescore_at`` passed),
    in stages where a new decision can still move them. One indexed range query."""
    query = Lead.filter(rescore_at__lte=now, stage__in=SCHEDULED_STAGES).order_by("rescore_at")
    if limit is not None:
        query = query.limit(limit)
    return sorted(cast(list[int], await query.values_list("id", flat=True)))


async def all_lead_ids() -> list[int]:
    return sorted(cast(list[int], await Lead.all().values_list("id", flat=True)))


async def _batch(
    engine: RulesEngine,
    lead_ids: Sequence[int],
    trigger: EvaluationTrigger,
    now: datetime,
    summary: BulkSummary,
) -> None:
    leads = await Lead.filter(id__in=list(lead_ids)).order_by("id")
    inputs = await build_inputs(leads=leads, now=now, lookback_days=engine.lookback_days)
    reps = RepBook(next(iter(inputs.values())).reps if inputs else [], now)
    # All leads at once, over every worker; only leads moving into the handoff stage get an
    # owner, and routing state moves on within the batch: those are evaluated again below,
    # one after the other, so round robin and capacity see earlier picks.
    first = await engine.evaluate_batch([inputs[lead.id] for lead in leads])
    results: dict[int, tuple[EvaluationInput, EvaluationResult]] = {}
    for lead, outcome in zip(leads, first, strict=True):
        fact_input = inputs[lead.id]
        if isinstance(outcome, RulesError):
            summary.failed += 1
            continue
        to_stage = outcome.stage.to_stage
        if to_stage == engine.handoff_stage and to_stage != outcome.stage.from_stage:
            fact_input = fact_input.model_copy(update={"reps": reps.current()})
            try:
                outcome = await engine.evaluate(fact_input)
            except RulesError:
                summary.failed += 1
                continue
            stage = outcome.stage.to_stage or outcome.stage.from_stage
            # Waiting leads (at the handoff stage with no owner) are routed too (#11).
            if (
                outcome.routing.rep_id is not None
                and stage == engine.handoff_stage
                and lead.owner_id is None  # type: ignore[attr-defined]
            ):
                reps.assigned(outcome.routing.rep_id, outcome.routing.shares)
        results[lead.id] = (fact_input, outcome)
    if not results:
        return
    async with in_transaction():
        await _write(engine, leads, results, trigger, now, summary, reps)


async def _write(
    engine: RulesEngine,
    leads: list[Lead],
    results: dict[int, tuple[EvaluationInput, EvaluationResult]],
    trigger: EvaluationTrigger,
    now: datetime,
    summary: BulkSummary,
    reps: RepBook,
) -> None:
    read_versions = {lead.id: lead.version for lead in leads}
    locked = await for_update(Lead.filter(id__in=list(results))).order_by("id")
    pending = Handoff.filter(lead_id__in=list(results), status__in=HOLDING)
    open_handoffs = set(cast(list[int], await pending.values_list("lead_id", flat=True)))
    plans: list[OutcomePlan] = []
    for lead in locked:
        if lead.version != read_versions[lead.id]:
            summary.skipped += 1
            continue
        fact_input, result = results[lead.id]
        plans.append(
            plan_outcome(
                handoff_stage=engine.handoff_stage,
                lead=lead,
                fact_input=fact_input,
                result=result,
                trigger=trigger,
                now=now,
                has_open_handoff=lead.id in open_handoffs,
            )
        )
    if not plans:
        return
    recorded = [p for p in plans if p.evaluation is not None]
    # One multi-row INSERT … RETURNING per table: the new ids come back with the rows.
    await insert_returning([p.evaluation for p in recorded if p.evaluation], key="lead_id")
    for plan in recorded:
        plan.link()
    changes = [p.stage_change for p in plans if p.stage_change is not None]
    handoffs = [p.handoff for p in plans if p.handoff is not None]
    if changes:
        await LeadStageChange.bulk_create(changes)
    if handoffs:
        await insert_returning(handoffs, key="lead_id")
        await _touch_reps({h.owner_id for h in handoffs}, reps, now)  # type: ignore[attr-defined]
        await HandoffStep.bulk_create(
            [
                first_step(p.handoff, results[p.lead.id][1].routing.why, now)
                for p in plans
                if p.handoff is not None
            ]
        )
        await save_shares(reps.changed_shares())
    await _update_leads(plans)
    events = [e for p in plans for e in p.final_events()]
    if events:
        await DomainEvent.bulk_create(events)
    summary.evaluated += len(plans)
    summary.recorded += len(recorded)
    summary.moved += sum(1 for c in changes if c.applied)
    summary.handoffs += len(handoffs)


async def _touch_reps(rep_ids: set[int], reps: RepBook, now: datetime) -> None:
    """One UPDATE per rep that got work (reps are few; leads are many)."""
    for rep_id in sorted(rep_ids):
        stamp = reps.last_assigned(rep_id) or now
        await SalesRep.filter(id=rep_id).update(last_assigned_at=stamp)


async def _update_leads(plans: list[OutcomePlan]) -> None:
    """One bulk update per set of changed columns (scores only, scores and stage, …)."""
    by_fields: dict[tuple[str, ...], list[Lead]] = {}
    for plan in plans:
        if plan.lead_changes:
            plan.lead.update_from_dict({**plan.lead_changes, "updated_at": datetime.now(UTC)})
            by_fields.setdefault(tuple(sorted(plan.lead_changes)), []).append(plan.lead)
    for fields, leads in by_fields.items():
        await Lead.bulk_update(leads, fields=[*fields, "updated_at"], batch_size=BATCH)


class RepBook:
    """The reps' routing state as it evolves through one batch: open handoffs, the last
    assignment and the routing ledger (rules/pick.py), so each pick sees the earlier ones.

    Each assignment gets a distinct, increasing time (1 µs apart) so that round robin sees the
    order of assignments inside a batch and across batches, as it would one lead at a time.
    """

    def __init__(self, reps: list[RepData], now: datetime) -> None:
        self._reps = {r.rep_id: r for r in reps}
        stamps = [r.last_assigned_at for r in reps if r.last_assigned_at is not None]
        self._clock = max([now, *stamps])
        self._touched: set[str] = set()

    def current(self) -> list[RepData]:
        return list(self._reps.values())

    def assigned(self, rep_id: str, shares: Sequence[RepShare] = ()) -> None:
        rep = self._reps.get(rep_id)
        if rep is not None:
            self._clock += timedelta(microseconds=1)
            self._reps[rep_id] = rep.model_copy(
                update={"open_handoffs": rep.open_handoffs + 1, "last_assigned_at": self._clock}
            )
        if shares:
            for updated in apply_shares([self._reps[s.rep_id] for s in shares], shares):
                self._reps[updated.rep_id] = updated
            self._touched.update(s.rep_id for s in shares)

    def changed_shares(self) -> list[RepShare]:
        """The ledger rows of every rep a pick in this batch changed."""
        return latest_shares(self._reps.values(), self._touched)

    def last_assigned(self, rep_id: int) -> datetime | None:
        rep = self._reps.get(str(rep_id))
        return rep.last_assigned_at if rep else None
