"""Impact of a candidate rulebook on the current leads, computed without writing anything.

Each lead is evaluated with the active engine and with the candidate on the same facts and
clock, and the candidate's result goes through ``plan_outcome`` — the planner the bulk job
applies after a publish — with the routing state carried from lead to lead as the job carries
it. So the predicted moves are the moves publishing makes (absent new activity meanwhile).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import cast

from api.bulk import RepBook
from api.engine import RulesEngine
from api.enums import HOLDING, EvaluationTrigger, LifecycleStage
from api.facts import build_inputs
from api.lead_filter import LeadFilter
from api.models import Handoff, Lead, LeadStageChange
from api.outcomes import OutcomePlan, plan_outcome
from rules import EvaluationInput, EvaluationResult, RulesError

BATCH = 200
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
    reps: RepBook | None = None
    cursor = 0
    while limit is None or impact.leads + impact.failed < limit:
        size = BATCH if limit is None else min(BATCH, limit - impact.leads - impact.failed)
        leads = await Lead.filter(lead_filter.query(), id__gt=cursor).order_by("id").limit(size)
        if not leads:
            break
        cursor = leads[-1].id
        inputs = await build_inputs(leads=leads, now=now, lookback_days=candidate.lookback_days)
        if reps is None:  # the job carries routing state across batches: so does this
            reps = RepBook(next(iter(inputs.values())).reps, now)
        await _batch(impact, leads, inputs, reps, current, candidate, now, samples)
        if on_progress is not None:
            said = on_progress(len(leads))
            if said is not None:
                await said
    return impact


async def _batch(
    impact: Impact,
    leads: list[Lead],
    inputs: dict[int, EvaluationInput],
    reps: RepBook,
    current: RulesEngine,
    candidate: RulesEngine,
    now: datetime,
    samples: int,
) -> None:
    ids = [lead.id for lead in leads]
    pending = Handoff.filter(lead_id__in=ids, status__in=HOLDING)
    open_handoffs = set(cast(list[int], await pending.values_list("lead_id", flat=True)))
    stays = await _entered_handoff_from(leads, candidate.handoff_stage)
    for lead in leads:
        fact_input = inputs[lead.id].model_copy(update={"reps": reps.current()})
        try:
            before = await current.evaluate(fact_input)
            after = await candidate.evaluate(fact_input)
            if lead.id in stays:
                again = fact_input.model_copy(
                    update={"lead": fact_input.lead.model_copy(update={"stage": stays[lead.id]})}
                )
                if (await candidate.evaluate(again)).stage.to_stage != candidate.handoff_stage:
                    impact.stay_leads += 1
                    impact.stay_handoffs += lead.id in open_handoffs
        except RulesError:
            impact.failed += 1
            continue
        plan = plan_outcome(
            handoff_stage=candidate.handoff_stage,
            lead=lead,
            fact_input=fact_input,
            result=after,
            trigger=EvaluationTrigger.BULK,
            now=now,
            has_open_handoff=lead.id in open_handoffs,
        )
        if after.routing.rep_id is not None and after.stage.to_stage == candidate.handoff_stage:
            reps.assigned(after.routing.rep_id, after.routing.shares)
        stage_after = plan.evaluation.stage_after if plan.evaluation else lead.stage
        _count(impact, lead, stage_after.value, plan, before, after, samples)


def _count(
    impact: Impact,
    lead: Lead,
    stage_after: str,
    plan: OutcomePlan,
    before: EvaluationResult,
    after: EvaluationResult,
    samples: int,
) -> None:
    impact.leads += 1
    impact.fires_before.update(before.fired_names)
    impact.fires_after.update(after.fired_names)
    for name, hist in impact.histograms.items():
        if name in before.scores:
            hist.before[_bucket(before.scores[name].value, hist.edges)] += 1
        if name in after.scores:
            hist.after[_bucket(after.scores[name].value, hist.edges)] += 1
    owner_before = lead.owner_id  # type: ignore[attr-defined]
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
    for kind in kinds:
        if len(impact.samples[kind]) < samples:
            impact.samples[kind].append(
                Sample(
                    kind=kind,
                    lead_id=lead.id,
                    email=lead.email,
                    stage_before=lead.stage.value,
                    stage_after=stage_after,
                    owner_before=owner_before,
                    owner_after=cast(int | None, owner_after),
                    before=before,
                    after=after,
                )
            )


def _bucket(value: float, edges: list[float]) -> int:
    width = edges[1] - edges[0] if len(edges) > 1 and edges[1] > edges[0] else 1.0
    return min(max(int(value // width), 0), len(edges) - 2)


async def _entered_handoff_from(leads: list[Lead], handoff_stage: str) -> dict[int, str]:
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
