"""Impact of a candidate rulebook on the current leads, computed without writing anything.

It runs the bulk job's path (api/bulk.py) minus the writes: the same lean reads
(:func:`api.bulk_read.read_batch`, campaigns and adjustments read once per run), the same
batches, each evaluated with one ``evaluate_batch`` per engine, and the same routing
(:func:`api.bulk.route_batch`: leads moving into the handoff stage re-evaluated one after the
other with the routing state carried through the run). The candidate's result then goes through
``plan_outcome``, the planner the bulk job applies after a publish. So the predicted moves and
owners are the ones publishing makes (absent new activity meanwhile).

Results come without "why not"; only the few sample leads get it, replayed in-process
(rules/whynot.py) on the exact input they were evaluated on.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import cast

from api.bulk import BATCH, RepBook, route_batch
from api.bulk_read import LeadState, campaign_keys, read_batch
from api.bulk_write import open_handoff_leads
from api.engine import RulesEngine
from api.enums import EvaluationTrigger, LifecycleStage
from api.facts import _active_adjustments, reps_now
from api.lead_filter import LeadFilter
from api.models import Lead, LeadStageChange
from api.outcomes import OutcomePlan, plan_outcome
from rules import AdjustmentData, EvaluationInput, EvaluationResult, RulesError, WhyNot

BUCKETS = 10
KINDS = ("move", "handoff", "owner", "score")


@dataclass(slots=True)
class Sample:
    """One lead whose outcome would change, with both results for an explanation."""

    kind: str
    lead_id: int
    email: str
    stage_before: str
    stage_after: str
    owner_before: int | None
    owner_after: int | None
    before: EvaluationResult
    after: EvaluationResult


@dataclass(slots=True)
class Histogram:
    score: str
    edges: list[float]
    before: list[int]
    after: list[int]


@dataclass(slots=True)
class Impact:
    candidate_version: str
    current_version: str
    leads: int = 0
    failed: int = 0
    moves: Counter[tuple[str, str]] = field(default_factory=Counter)
    refused: int = 0
    handoffs: int = 0
    owners_gained: Counter[int] = field(default_factory=Counter)
    owners_lost: Counter[int] = field(default_factory=Counter)
    scores_changed: int = 0
    fires_before: Counter[str] = field(default_factory=Counter)
    fires_after: Counter[str] = field(default_factory=Counter)
    histograms: dict[str, Histogram] = field(default_factory=dict)
    stay_leads: int = 0
    """Leads at the handoff stage the candidate would not bring there: they stay (no backward
    move), as do their handoffs."""
    stay_handoffs: int = 0
    samples: dict[str, list[Sample]] = field(default_factory=lambda: {k: [] for k in KINDS})

    @property
    def moved(self) -> int:
        return sum(self.moves.values())

    def fire_changes(self) -> list[tuple[str, int, int]]:
        names = sorted(set(self.fires_before) | set(self.fires_after))
        rows = [(n, self.fires_before[n], self.fires_after[n]) for n in names]
        return [r for r in rows if r[1] != r[2]]


OnProgress = Callable[[int], Awaitable[None] | None]


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
    run = _Run(current, candidate, now, await campaign_keys(), await _active_adjustments(now),
               RepBook(await reps_now(now), now), samples)  # fmt: skip
    starts = range(0, len(ids), BATCH)
    batch = await run.start(ids[:BATCH]) if ids else None
    for start in starts:
        assert batch is not None
        following = None
        try:
            routed = await run.route(batch)
            if start + BATCH < len(ids):  # read and evaluated while this one is counted
                following = await run.start(ids[start + BATCH : start + 2 * BATCH])
            run.count(impact, batch, routed)
        except BaseException:
            if following is not None:  # let the workers' threads finish before unwinding
                await asyncio.gather(following.evaluated, return_exceptions=True)
            raise
        if on_progress is not None:
            said = on_progress(len(batch.states))
            if said is not None:
                await said
        batch = following
    await run.explain_samples(impact)
    return impact


Outcomes = list[EvaluationResult | RulesError]


@dataclass(slots=True)
class _Batch:
    states: list[LeadState]
    inputs: dict[int, EvaluationInput]
    stays: dict[int, str]
    open_handoffs: set[int]
    evaluated: asyncio.Future[tuple[Outcomes, Outcomes, Outcomes]]
    """Before (active version), after (candidate) and the stays check, in flight."""


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
    inputs: dict[int, tuple[EvaluationInput, EvaluationInput]] = field(default_factory=dict)
    """Sample leads' inputs (before, after), for their explanations at the end."""

    async def start(self, lead_ids: Sequence[int]) -> _Batch:
        """Read the batch as the bulk job does (with the reps as now) and hand it to both
        engines at once, one ``evaluate_batch`` each (and one for the stays), without waiting."""
        candidate = self.candidate
        states, inputs = await read_batch(
            lead_ids,
            now=self.now,
            lookback_days=candidate.lookback_days,
            campaigns=self.campaigns,
            adjustments=self.adjustments,
            reps=self.reps.current(),
        )
        ids = [s.id for s in states]
        ordered = [inputs[i] for i in ids]
        stays = await _entered_handoff_from(states, candidate.handoff_stage)
        again = [
            inputs[i].model_copy(
                update={"lead": inputs[i].lead.model_copy(update={"stage": stays[i]})}
            )
            for i in stays
        ]
        evaluated = asyncio.gather(
            self.current.evaluate_batch(ordered),
            candidate.evaluate_batch(ordered),
            candidate.evaluate_batch(again),
        )
        open_handoffs = await open_handoff_leads(ids) if ids else set()
        return _Batch(states, inputs, stays, open_handoffs, evaluated)

    async def route(self, batch: _Batch) -> dict[int, tuple[EvaluationInput, EvaluationResult]]:
        """The candidate's results routed as the bulk job routes them (the routing state moves
        on here, before the next batch is read)."""
        _, afters, _ = await batch.evaluated
        routed, _ = await route_batch(self.candidate, self.reps, batch.states, batch.inputs, afters)
        return routed

    def count(
        self,
        impact: Impact,
        batch: _Batch,
        routed: dict[int, tuple[EvaluationInput, EvaluationResult]],
    ) -> None:
        """What publishing would do to each lead: ``plan_outcome``, as the bulk job plans it."""
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
            plan = plan_outcome(
                handoff_stage=candidate.handoff_stage,
                lead=cast(Lead, state),  # LeadState has every attribute the planner reads
                fact_input=fact_input,
                result=after,
                trigger=EvaluationTrigger.BULK,
                now=self.now,
                has_open_handoff=state.id in batch.open_handoffs,
            )
            stage_after = plan.evaluation.stage_after if plan.evaluation else state.stage
            if _count(impact, state, stage_after.value, plan, before, after, self.samples):
                self.inputs[state.id] = (batch.inputs[state.id], fact_input)

    async def explain_samples(self, impact: Impact) -> None:
        """ "Why not" for the sample leads only, replayed on the inputs they were evaluated on;
        and their emails (the lean read has none)."""
        chosen = {s.lead_id for kind in impact.samples.values() for s in kind}
        if not chosen:
            return
        emails = dict(
            cast(
                list[tuple[int, str]],
                await Lead.filter(id__in=chosen).values_list("id", "email"),
            )
        )
        before_why = WhyNot(self.current.rulebook)
        after_why = WhyNot(self.candidate.rulebook)
        for kind in impact.samples.values():
            for sample in kind:
                before_input, after_input = self.inputs[sample.lead_id]
                sample.email = emails.get(sample.lead_id, "")
                sample.before = _explained(before_why, before_input, sample.before)
                sample.after = _explained(after_why, after_input, sample.after)


def _explained(why: WhyNot, inp: EvaluationInput, result: EvaluationResult) -> EvaluationResult:
    if result.not_fired:
        return result
    not_fired = why.not_fired(
        inp,
        fired=result.fired_names,
        scores={name: score.value for name, score in result.scores.items()},
    )
    return result.model_copy(update={"not_fired": not_fired})


def _count(
    impact: Impact,
    lead: LeadState,
    stage_after: str,
    plan: OutcomePlan,
    before: EvaluationResult,
    after: EvaluationResult,
    samples: int,
) -> bool:
    """Count one lead's changes; True when it became a sample."""
    impact.leads += 1
    impact.fires_before.update(before.fired_names)
    impact.fires_after.update(after.fired_names)
    for name, hist in impact.histograms.items():
        if name in before.scores:
            hist.before[_bucket(before.scores[name].value, hist.edges)] += 1
        if name in after.scores:
            hist.after[_bucket(after.scores[name].value, hist.edges)] += 1
    owner_before = lead.owner_id
    owner_after = plan.lead_changes.get("owner_id", owner_before)
    kinds = []
    if stage_after != lead.stage.value:
        impact.moves[(lead.stage.value, stage_after)] += 1
        kinds.append("move")
    if plan.refused:
        impact.refused += 1
    if plan.handoff is not None:
        impact.handoffs += 1
        kinds.append("handoff")
    if owner_after != owner_before:
        impact.owners_gained[cast(int, owner_after)] += 1
        if owner_before is not None:
            impact.owners_lost[owner_before] += 1
        kinds.append("owner")
    if {n: round(s.value, 2) for n, s in before.scores.items()} != {
        n: round(s.value, 2) for n, s in after.scores.items()
    }:
        impact.scores_changed += 1
        kinds.append("score")
    sampled = False
    for kind in kinds:
        if len(impact.samples[kind]) < samples:
            sampled = True
            impact.samples[kind].append(
                Sample(
                    kind=kind,
                    lead_id=lead.id,
                    email="",  # filled in with the explanations, for the samples only
                    stage_before=lead.stage.value,
                    stage_after=stage_after,
                    owner_before=owner_before,
                    owner_after=cast(int | None, owner_after),
                    before=before,
                    after=after,
                )
            )
    return sampled


def _bucket(value: float, edges: list[float]) -> int:
    width = edges[1] - edges[0] if len(edges) > 1 and edges[1] > edges[0] else 1.0
    return min(max(int(value // width), 0), len(edges) - 2)


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
