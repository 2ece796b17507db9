"""Evaluating many leads: after publishing a rulebook, on a schedule (engagement decays), or
over seeded data. Reads and writes go in batches, a fixed number of queries per batch."""

from __future__ import annotations

import asyncio
import gc
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

from prometheus_client import Gauge
from tortoise.transactions import in_transaction

from api.bulk_plan import ENCODED, PackedPlan, RepsText, count_outcomes, plan_packed
from api.bulk_read import LeadState, campaign_keys, read_batch_packed
from api.bulk_route import RepBook as RepBook
from api.bulk_route import route_batch as route_batch
from api.bulk_write import lock_versions, open_handoff_leads, touch_reps, update_leads
from api.engine import RulesEngine
from api.enums import EvaluationTrigger, LifecycleStage
from api.facts import _active_adjustments, reps_now
from api.inserts import insert_returning, insert_values
from api.models import DomainEvent, Evaluation, HandoffStep, Lead, LeadStageChange
from api.shares import first_step, save_shares
from api.telemetry import BULK_LEADS
from rules import AdjustmentData, RulesError
from rules.record import PackedInput, PackedResult

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
    """Evaluate and apply, batch by batch; each batch is one transaction.

    Pipelined: batch N+1 is read while the workers evaluate batch N, and evaluated while N is
    written (read before N's writes: its leads are others, and the version check at write time
    skips any lead that changed meanwhile). Routing state is carried from batch to batch in one
    :class:`RepBook`, so round robin and capacity see every earlier pick of the run.
    """
    now = now or datetime.now(UTC)
    lead_ids = list(dict.fromkeys(lead_ids))  # a lead twice would be read before its write
    summary = BulkSummary()
    progress = (
        BULK_LEADS.labels(trigger=str(trigger), state="total"),
        BULK_LEADS.labels(trigger=str(trigger), state="done"),
    )
    progress[0].set(len(lead_ids))
    progress[1].set(0)
    if not lead_ids:
        return summary
    with _frozen_heap():
        await _evaluate(engine, lead_ids, trigger, now, batch_size, summary, progress[1])
    return summary


_RUNS = 0


@contextmanager
def _frozen_heap() -> Iterator[None]:
    """The objects alive when a run starts (modules, classes, schemas, caches: ~120k in the
    service) left out of garbage collection until the last run ends (``gc.freeze``).

    A run allocates containers by the hundred per lead, so the collector runs every few leads,
    and its full passes walked that whole heap: ~150 µs per lead of the parent's CPU (measured,
    2,000 demo leads, PostgreSQL), a third of it. Collection stays on for the run's own
    objects."""
    global _RUNS
    _RUNS += 1
    if _RUNS == 1:
        gc.freeze()
    try:
        yield
    finally:
        _RUNS -= 1
        if _RUNS == 0:
            gc.unfreeze()


async def _evaluate(
    engine: RulesEngine,
    lead_ids: list[int],
    trigger: EvaluationTrigger,
    now: datetime,
    batch_size: int,
    summary: BulkSummary,
    done: Gauge,
) -> None:
    run = _Run(engine, now, await campaign_keys(), await _active_adjustments(now),
               RepBook(await reps_now(now), now))  # fmt: skip
    chunks = [lead_ids[i : i + batch_size] for i in range(0, len(lead_ids), batch_size)]
    batch = run.dispatch(await run.read(chunks[0]))
    for n in range(len(chunks)):
        # Batch N+1 is read while the workers evaluate batch N: nothing is written between
        # (N's rows are written after this read, as before), so it reads what it read after
        # N's evaluation. It goes to the workers once N is routed: with the reps as N left them.
        reading = asyncio.ensure_future(run.read(chunks[n + 1])) if n + 1 < len(chunks) else None
        following = None
        try:
            results = await run.finish_evaluation(batch, summary)
            if reading is not None:
                following = run.dispatch(await reading)
            if results:
                async with in_transaction():
                    await _write(engine, batch.states, results, trigger, now, summary, run.reps)
        except BaseException:
            # let the read and the workers' thread finish before unwinding
            await asyncio.gather(*(t for t in (reading, following and following.first) if t),
                                 return_exceptions=True)  # fmt: skip
            raise
        done.set(min((n + 1) * batch_size, len(lead_ids)))
        if following is not None:
            batch = following


@dataclass(slots=True)
class _Batch:
    states: list[LeadState]
    inputs: dict[int, PackedInput]
    first: asyncio.Task[list[PackedResult | RulesError]]


@dataclass(slots=True)
class _Run:
    """What every batch of one bulk run shares: read once, evolved in memory."""

    engine: RulesEngine
    now: datetime
    campaigns: dict[int, str]
    adjustments: list[AdjustmentData]
    reps: RepBook

    async def read(self, lead_ids: Sequence[int]) -> tuple[list[LeadState], list[PackedInput]]:
        """Read the batch (lean columns, in order), without its reps."""
        states, inputs = await read_batch_packed(
            lead_ids,
            now=self.now,
            lookback_days=self.engine.lookback_days,
            campaigns=self.campaigns,
            adjustments=self.adjustments,
            reps=[],
        )
        return states, [inputs[s.id] for s in states]

    def dispatch(self, read: tuple[list[LeadState], list[PackedInput]]) -> _Batch:
        """Hand a batch read to the engine workers, with the reps as now, without waiting."""
        states, rows = read
        reps = self.reps.current()
        inputs = {s.id: r._replace(reps=reps) for s, r in zip(states, rows, strict=True)}
        # All leads at once, over every worker (one round trip per worker); inputs and results
        # in their record form (rules/record.py), which the planner only completes into rows.
        first = asyncio.ensure_future(
            self.engine.pool.evaluate_batch_packed(
                list(inputs.values()), rulebook=self.engine.rulebook
            )
        )
        return _Batch(states, inputs, first)

    async def finish_evaluation(
        self, batch: _Batch, summary: BulkSummary
    ) -> dict[int, tuple[PackedInput, PackedResult]]:
        results, failed = await route_batch(
            self.engine, self.reps, batch.states, batch.inputs, await batch.first
        )
        summary.failed += failed
        return results


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


async def _write(
    engine: RulesEngine,
    states: list[LeadState],
    results: dict[int, tuple[PackedInput, PackedResult]],
    trigger: EvaluationTrigger,
    now: datetime,
    summary: BulkSummary,
    reps: RepBook,
) -> None:
    ids = sorted(results)
    locked = await lock_versions(ids)
    open_handoffs = await open_handoff_leads(ids)
    plans: list[PackedPlan] = []
    reps_text = RepsText()
    counts: Counter[str] = Counter()
    for state in states:
        if state.id not in results or state.id not in locked:
            continue  # failed, or deleted meanwhile
        if locked[state.id] != state.version:
            summary.skipped += 1
            continue
        fact_input, result = results[state.id]
        plans.append(
            plan_packed(
                handoff_stage=engine.handoff_stage,
                lead=state,
                fact_input=fact_input,
                result=result,
                trigger=trigger,
                now=now,
                has_open_handoff=state.id in open_handoffs,
                reps=reps_text,
                counts=counts,
            )
        )
    count_outcomes(trigger, counts)
    if not plans:
        return
    recorded = [p for p in plans if p.evaluation is not None]
    # Rows as field values, no model per row; the record's JSON columns as the workers encoded
    # them. COPY per table on PostgreSQL (ids drawn from the sequence first), multi-row
    # INSERT … RETURNING on SQLite: the new ids come with the rows, never looked up afterwards.
    new_ids = await insert_values(Evaluation, [p.evaluation for p in recorded if p.evaluation],
                                  key="lead_id", encoded=ENCODED)  # fmt: skip
    for plan, evaluation_id in zip(recorded, new_ids, strict=True):
        plan.link(evaluation_id)
    changes = [p.stage_change for p in plans if p.stage_change is not None]
    handoffs = [p.handoff for p in plans if p.handoff is not None]
    if changes:
        await insert_values(LeadStageChange, changes)
    if handoffs:
        await insert_returning(handoffs, key="lead_id")
        await _touch_reps({h.owner_id for h in handoffs}, reps, now)  # type: ignore[attr-defined]
        await HandoffStep.bulk_create(
            [
                first_step(p.handoff, results[p.lead.id][1].why, now)
                for p in plans
                if p.handoff is not None
            ]
        )
        await save_shares(reps.changed_shares())
    await update_leads([(p.lead.id, p.lead_changes) for p in plans], datetime.now(UTC))
    events = [e for p in plans for e in p.final_events()]
    if events:
        await insert_values(DomainEvent, events)
    summary.evaluated += len(plans)
    summary.recorded += len(recorded)
    summary.moved += sum(1 for c in changes if c["applied"])
    summary.handoffs += len(handoffs)


async def _touch_reps(rep_ids: set[int], reps: RepBook, now: datetime) -> None:
    """The last assignment of every rep that got work: one statement per batch."""
    await touch_reps({rep_id: reps.last_assigned(rep_id) or now for rep_id in rep_ids})
