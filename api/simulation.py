"""Impact of a candidate rulebook on the current leads, computed without writing anything.

It runs the bulk job's path (api/bulk.py) minus the writes: the same lean reads in record form
(:func:`api.bulk_read.read_batch_packed`: the parent builds no input model; campaigns and
adjustments read once per run), the same batches, and the same routing
(:func:`api.bulk.route_batch`: leads moving into the handoff stage routed one after the other
with the routing state carried through the run; here in-process, api/simulation_routing.py,
where the bulk job evaluates them again in a worker). Each batch is one pair job per worker
(rules/pair.py): the worker decides each lead with the active version ("before") and the
candidate ("after") from one reading of its input, building its facts once when both versions
build the same. ``AHEAD`` batches are in the workers at once; each is routed as the bulk job
would have read it, after the ones before it were routed. The candidate's result then goes
through :func:`api.impact.plan_moves`, the deciding part of the planner the bulk job applies
after a publish. So the predicted moves and owners are the ones publishing makes (absent new
activity meanwhile).

Decisions come brief (``rules.evaluator.Evaluator.decide_brief``: fired names, score values,
stage and pick; no effect texts, SLA, horizon or "why not"): the parent validates and plans
nothing it does not count. Only the few sample leads are evaluated again in full
(api/simulation_samples.py). One simulation runs at a time on a pool (:func:`_turn`).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import cast
from weakref import WeakKeyDictionary

from api.bulk import BATCH, RepBook, _frozen_heap, route_batch
from api.bulk_read import LeadState, campaign_keys, read_batch_packed
from api.bulk_write import open_handoff_leads
from api.engine import RulesEngine
from api.enums import LifecycleStage
from api.facts import _active_adjustments, reps_now
from api.impact import (
    BUCKETS,
    KINDS,
    Counted,
    Histogram,
    Impact,
    MovePlan,
    Sample,
    count_lead,
    plan_moves,
)
from api.lead_filter import LeadFilter
from api.models import Lead, LeadStageChange
from api.simulation_routing import Router, same_reps
from api.simulation_samples import Pending, explain_samples
from rules import (
    AdjustmentData,
    EnginePool,
    EvaluationInput,
    EvaluationResult,
    RepData,
    RulesError,
)
from rules.brief import BriefOutcome, BriefResult
from rules.models import LeadData
from rules.record import PackedInput, Rows

__all__ = ["Impact", "MovePlan", "Sample", "plan_moves", "simulate"]

OnProgress = Callable[[int], Awaitable[None] | None]
AHEAD = 2
"""Batches read and in the engines at once: while one is routed and counted, the workers
evaluate the next ones (the parent's work on a batch and the database's no longer leave the
workers idle)."""


async def simulate(
    *,
    current: RulesEngine,
    candidate: RulesEngine,
    lead_filter: LeadFilter,
    samples: int = 3,
    limit: int | None = None,
    now: datetime | None = None,
    on_progress: OnProgress | None = None,
) -> Impact:
    """Evaluate the matching leads with both engines; report what publishing would change."""
    now = now or datetime.now(UTC)
    impact = Impact(candidate_version=candidate.version, current_version=current.version)
    for name, score in candidate.rulebook.scores.items():
        impact.histograms[name] = Histogram(
            score=name,
            edges=[score.cap * i / BUCKETS for i in range(BUCKETS + 1)],
            before=[0] * BUCKETS,
            after=[0] * BUCKETS,
        )
    # The leads a publish's job would take, in its order (api.jobs.create_job).
    ids = cast(
        list[int],
        await Lead.filter(lead_filter.query()).order_by("id").values_list("id", flat=True),
    )
    if limit is not None:
        ids = ids[:limit]
    async with _turn(candidate.pool):
        run = _Run(current, candidate, now, await campaign_keys(), await _active_adjustments(now),
                   RepBook(await reps_now(now), now), samples, Router(candidate))  # fmt: skip
        with _frozen_heap():  # as the bulk job: the collector skips the objects alive at start
            await _batches(run, impact, ids, on_progress)
            await run.explain_samples(impact)
    return impact


_turns: WeakKeyDictionary[EnginePool, asyncio.Lock] = WeakKeyDictionary()


def _turn(pool: EnginePool) -> asyncio.Lock:
    """One simulation at a time on a pool: each uses all its workers (one pair job per worker
    per batch), and a worker holds two versions compiled (rules/worker.py), so simulations of
    two candidates at once would compile them again on every batch."""
    lock = _turns.get(pool)
    if lock is None:
        lock = _turns[pool] = asyncio.Lock()
    return lock


async def _batches(
    run: _Run, impact: Impact, ids: list[int], on_progress: OnProgress | None
) -> None:
    """Every batch: ``AHEAD`` in the engines while the oldest is routed and counted."""
    batches = deque(ids[i : i + BATCH] for i in range(0, len(ids), BATCH))
    ahead: deque[_Batch] = deque()
    run.threads = ThreadPoolExecutor(3 * AHEAD, thread_name_prefix="simulate")
    try:
        while batches and len(ahead) < AHEAD:
            ahead.append(await run.start(batches.popleft()))
        while ahead:
            batch = ahead[0]
            routed = await run.route(batch)
            if batches:  # read and evaluated while this one is counted
                ahead.append(await run.start(batches.popleft()))
            run.count(impact, batch, routed)
            ahead.popleft()
            if on_progress is not None:
                said = on_progress(len(batch.states))
                if said is not None:
                    await said
    except BaseException:
        # Let the workers' threads finish before unwinding.
        await asyncio.gather(*(b.evaluated for b in ahead), return_exceptions=True)
        raise
    finally:
        run.threads.shutdown(wait=False)  # all done, or left to finish (never block the loop)


Outcomes = list[BriefOutcome]


@dataclass(slots=True)
class _Batch:
    states: list[LeadState]
    inputs: dict[int, PackedInput]
    """As read (rules/record.py): the workers build the models, the parent only the few it
    routes or explains (:attr:`models`)."""
    reps: list[RepData]
    """The routing state the batch was read (and evaluated) with."""
    stays: dict[int, str]
    open_handoffs: set[int]
    evaluated: asyncio.Future[tuple[Outcomes, Outcomes, Outcomes]]
    """Before (active version), after (candidate) and the stays check, in flight, brief."""
    reps_routed: list[RepData] = field(default_factory=list)
    """The routing state when the batch was routed: what the bulk job would have read it with
    (it reads a batch after routing the one before)."""
    models: dict[int, EvaluationInput] = field(default_factory=dict)
    """The inputs as models of the leads the candidate leaves at or moves into the handoff
    stage: the only ones routing reads."""

    def model(self, lead_id: int) -> EvaluationInput:
        found = self.models.get(lead_id)
        return found if found is not None else self.inputs[lead_id].model()


@dataclass(slots=True)
class _Run:
    """What every batch of one simulation shares, as :class:`api.bulk._Run` does for a job."""

    current: RulesEngine
    candidate: RulesEngine
    now: datetime
    campaigns: dict[int, str]
    adjustments: list[AdjustmentData]
    reps: RepBook
    samples: int
    router: Router
    threads: ThreadPoolExecutor | None = None
    """The run's own threads for the batches in flight (not the loop's default executor,
    which the rest of the process shares)."""
    inputs: dict[int, tuple[EvaluationInput, EvaluationInput]] = field(default_factory=dict)
    """Sample leads' inputs (before, after), for their explanations at the end."""
    pending: dict[str, list[Pending]] = field(default_factory=lambda: {k: [] for k in KINDS})

    async def start(self, lead_ids: Sequence[int]) -> _Batch:
        """Read the batch as the bulk job does (with the reps as now, in record form) and hand
        it to the workers, one pair job per worker (rules/pair.py: each lead decided brief by
        both versions in one round trip; the stays check rides along, candidate only), on the
        run's threads, without waiting."""
        candidate = self.candidate
        reps = self.reps.current()
        states, inputs = await read_batch_packed(
            lead_ids,
            now=self.now,
            lookback_days=candidate.lookback_days,
            campaigns=self.campaigns,
            adjustments=self.adjustments,
            reps=reps,
        )
        ids = [s.id for s in states]
        stays = await _entered_handoff_from(states, candidate.handoff_stage)
        items = [inputs[i] for i in ids] + [_at_stage(inputs[i], stays[i]) for i in stays]
        both = [True] * len(ids) + [False] * len(stays)
        open_handoffs = await open_handoff_leads(ids) if ids else set()
        loop = asyncio.get_running_loop()
        call = partial(
            candidate.pool.evaluate_pairs_sync,
            items,
            both,
            before=self.current.rulebook,
            after=candidate.rulebook,
        )

        async def pairs() -> tuple[Outcomes, Outcomes, Outcomes]:
            befores: list[BriefOutcome] = []
            afters: list[BriefOutcome] = []
            for pair in await loop.run_in_executor(self.threads, call):
                before, after = (pair, pair) if isinstance(pair, RulesError) else pair
                if before is not None:
                    befores.append(before)
                afters.append(after)
            return befores, afters[: len(ids)], afters[len(ids) :]

        evaluated = asyncio.ensure_future(pairs())
        return _Batch(states, inputs, reps, stays, open_handoffs, evaluated)

    async def route(
        self, batch: _Batch
    ) -> dict[int, tuple[EvaluationInput | PackedInput, Counted]]:
        """The candidate's results routed as the bulk job routes them (the routing state moves
        on here, before the next batch is counted): in-process (:class:`Router`), first as the
        bulk job would have read the batch had it not been read ahead."""
        _, afters, _ = await batch.evaluated
        handoff = self.router.handoff_stage
        batch.models = {
            state.id: batch.inputs[state.id].model()
            for state, after in zip(batch.states, afters, strict=True)
            if isinstance(after, BriefResult)
            and (after.stage.to_stage or after.stage.from_stage) == handoff
        }
        ordered = [batch.models.get(s.id) for s in batch.states]
        batch.reps_routed = self.reps.current()
        if not same_reps(batch.reps, batch.reps_routed):
            afters = self.router.as_read(ordered, afters, batch.reps_routed)
        self.router.batch(ordered, afters)
        inputs: dict[int, EvaluationInput | PackedInput] = dict(batch.inputs)
        inputs.update(batch.models)  # route_batch routes models only (api.bulk.route_batch)
        routed, _ = await route_batch(
            cast(RulesEngine, self.router),  # route_batch reads handoff_stage and evaluate
            self.reps,
            batch.states,
            cast(dict[int, EvaluationInput], inputs),  # as read: models where routed
            cast(list[EvaluationResult | RulesError], afters),
        )
        return cast(dict[int, tuple[EvaluationInput | PackedInput, Counted]], routed)

    def count(
        self,
        impact: Impact,
        batch: _Batch,
        routed: dict[int, tuple[EvaluationInput | PackedInput, Counted]],
    ) -> None:
        """What publishing would do to each lead: :func:`plan_moves`, as the bulk job plans."""
        candidate = self.candidate
        befores, _, stayed = batch.evaluated.result()
        for lead_id, outcome in zip(batch.stays, stayed, strict=True):
            if isinstance(outcome, RulesError):
                continue  # counted as failed below if the lead's own evaluation fails too
            if outcome.stage.to_stage != candidate.handoff_stage:
                impact.stay_leads += 1
                impact.stay_handoffs += lead_id in batch.open_handoffs
        for state, before in zip(batch.states, befores, strict=True):
            if isinstance(before, RulesError) or state.id not in routed:
                impact.failed += 1
                continue
            fact_input, after = routed[state.id]
            plan = plan_moves(
                handoff_stage=candidate.handoff_stage,
                lead=state,
                result=after,
                has_open_handoff=state.id in batch.open_handoffs,
            )
            if self._sample(count_lead(impact, state, plan, before, after), state, plan):
                read = batch.model(state.id)
                as_routed = fact_input if isinstance(fact_input, EvaluationInput) else read
                self.inputs[state.id] = _as_read(batch, read, as_routed)

    def _sample(self, kinds: list[str], lead: LeadState, plan: MovePlan) -> bool:
        """Keep the lead as a sample of each kind of change that has room; True if kept."""
        sampled = False
        owner_after = plan.owner_id if plan.owner_id is not None else lead.owner_id
        for kind in kinds:
            if len(self.pending[kind]) < self.samples:
                sampled = True
                stages = (lead.stage.value, plan.stage_after.value)
                owners = (lead.owner_id, owner_after)
                self.pending[kind].append(Pending(kind, lead.id, *stages, *owners))
        return sampled

    async def explain_samples(self, impact: Impact) -> None:
        """The sample leads' full results (api/simulation_samples.py)."""
        await explain_samples(impact, self.current, self.candidate, self.pending, self.inputs)


def _as_read(
    batch: _Batch, before: EvaluationInput, after: EvaluationInput
) -> tuple[EvaluationInput, EvaluationInput]:
    """A sample's inputs (before; after, as routed) with the reps the bulk job would have read
    the batch with, for its full results at the end."""
    if same_reps(batch.reps, batch.reps_routed):
        return before, after
    as_read = before.model_copy(update={"reps": batch.reps_routed})
    return as_read, as_read if after is before else after


_STAGE = tuple(LeadData.model_fields).index("stage")
"""Where a lead's stage is in its record-form row (rules/record.py: the fields in order)."""


def _at_stage(inp: PackedInput, stage: str) -> PackedInput:
    """The input with the lead at ``stage`` (the stays check: the stage it came from)."""
    lead, *rest = inp.rows
    rows = ((*lead[:_STAGE], stage, *lead[_STAGE + 1 :]), *rest)
    return inp._replace(rows=cast(Rows, rows))


async def _entered_handoff_from(leads: Sequence[LeadState], handoff_stage: str) -> dict[int, str]:
    """For leads now at the handoff stage: the stage they came from (one query per batch)."""
    at = [lead.id for lead in leads if lead.stage.value == handoff_stage]
    if not at:
        return {}
    rows = (
        await LeadStageChange.filter(lead_id__in=at, to_stage=handoff_stage, applied=True)
        .order_by("lead_id", "changed_at", "id")
        .values_list("lead_id", "from_stage")
    )
    came_from = {int(lead_id): str(stage) for lead_id, stage in rows}  # the latest one wins
    return {lead_id: came_from.get(lead_id, LifecycleStage.NEW.value) for lead_id in at}
