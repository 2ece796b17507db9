"""`simulateRulebook`: what publishing a candidate would change, without writing anything."""

from __future__ import annotations

import asyncio
from typing import Self

import strawberry

from api.candidates import CandidateEngines
from api.engine import RulesEngine
from api.errors import InvalidInput, LeadgateError
from api.lead_filter import LeadFilter
from api.rulebook_store import validate_files
from api.simulation import Impact, Sample, simulate
from schema.context import Info
from schema.errors import UserError
from schema.evaluations import EvaluationReport
from schema.leads import Lead
from schema.reps import SalesRep
from schema.rulebook_versions import RuleFileInput, errors_of, files_of

MAX_LEADS = 100_000
MAX_SAMPLES = 20


@strawberry.type(description="Leads that would move from one stage to another.")
class StageMove:
    from_stage: str = strawberry.field(description="Stage now")
    to_stage: str = strawberry.field(description="Stage after publishing")
    leads: int = strawberry.field(description="How many leads")


@strawberry.type(description="Leads a rep would gain or lose as owner.")
class OwnerChange:
    rep_id: strawberry.Private[int]
    gained: int = strawberry.field(description="Leads handed to this rep")
    lost: int = strawberry.field(description="Leads this rep would no longer own")

    @strawberry.field(description="The rep")
    async def rep(self, info: Info) -> SalesRep | None:
        row = await info.context.loaders.rep.load(self.rep_id)
        return SalesRep.from_row(row) if row else None


@strawberry.type(description="A score's distribution before and after, in equal buckets.")
class ScoreHistogram:
    score: str = strawberry.field(description="Score name")
    edges: list[float] = strawberry.field(description="Bucket edges, from 0 to the cap")
    before: list[int] = strawberry.field(description="Leads per bucket with the active rulebook")
    after: list[int] = strawberry.field(description="Leads per bucket with the candidate")


@strawberry.type(description="How often a rule fires, before and after.")
class FireCountChange:
    rule: str = strawberry.field(description="Rule name")
    before: int = strawberry.field(description="Fires with the active rulebook")
    after: int = strawberry.field(description="Fires with the candidate")


@strawberry.type(description="A lead whose outcome would change, explained both ways.")
class SimulationSample:
    kind: str = strawberry.field(description="move, handoff, owner or score")
    stage_before: str = strawberry.field(description="Stage now")
    stage_after: str = strawberry.field(description="Stage after publishing")
    before: EvaluationReport = strawberry.field(description="With the active rulebook")
    after: EvaluationReport = strawberry.field(description="With the candidate")
    lead_id: strawberry.Private[int]

    @strawberry.field(description="The lead")
    async def lead(self, info: Info) -> Lead | None:
        row = await info.context.loaders.lead.load(self.lead_id)
        return Lead.from_row(row) if row else None


@strawberry.type(description="The impact of publishing a candidate rulebook.")
class SimulationReport:
    current_version: str = strawberry.field(description="The active version")
    candidate_version: str = strawberry.field(description="The candidate's content hash")
    leads: int = strawberry.field(description="Leads evaluated")
    failed: int = strawberry.field(description="Leads the engine failed on")
    moved: int = strawberry.field(description="Leads that would change stage")
    moves: list[StageMove] = strawberry.field(description="From-stage by to-stage counts")
    refused: int = strawberry.field(description="Moves the lifecycle guards would refuse")
    handoffs: int = strawberry.field(description="Handoffs that would be created")
    owners: list[OwnerChange] = strawberry.field(description="Owner changes per rep")
    scores_changed: int = strawberry.field(description="Leads whose scores would change")
    histograms: list[ScoreHistogram] = strawberry.field(description="Per score")
    fire_changes: list[FireCountChange] = strawberry.field(description="Rules whose count moves")
    stay_leads: int = strawberry.field(
        description="Leads at the handoff stage the candidate would not qualify: they stay"
    )
    stay_handoffs: int = strawberry.field(description="Open handoffs of those leads: they stay")
    samples: list[SimulationSample] = strawberry.field(description="A few leads per kind")

    @classmethod
    def build(cls, impact: Impact, current: RulesEngine, candidate: RulesEngine) -> Self:
        def sample(s: Sample) -> SimulationSample:
            return SimulationSample(
                kind=s.kind,
                stage_before=s.stage_before,
                stage_after=s.stage_after,
                before=EvaluationReport.from_result(s.before, current.focus),
                after=EvaluationReport.from_result(s.after, candidate.focus),
                lead_id=s.lead_id,
            )

        reps = sorted(set(impact.owners_gained) | set(impact.owners_lost))
        return cls(
            current_version=impact.current_version,
            candidate_version=impact.candidate_version,
            leads=impact.leads,
            failed=impact.failed,
            moved=impact.moved,
            moves=[
                StageMove(from_stage=f, to_stage=t, leads=n)
                for (f, t), n in sorted(impact.moves.items())
            ],
            refused=impact.refused,
            handoffs=impact.handoffs,
            owners=[
                OwnerChange(rep_id=r, gained=impact.owners_gained[r], lost=impact.owners_lost[r])
                for r in reps
            ],
            scores_changed=impact.scores_changed,
            histograms=[
                ScoreHistogram(score=h.score, edges=h.edges, before=h.before, after=h.after)
                for h in impact.histograms.values()
            ],
            fire_changes=[
                FireCountChange(rule=r, before=b, after=a) for r, b, a in impact.fire_changes()
            ],
            stay_leads=impact.stay_leads,
            stay_handoffs=impact.stay_handoffs,
            samples=[sample(s) for kind in impact.samples.values() for s in kind],
        )


@strawberry.input(description="Which leads to simulate on (empty: all).")
class LeadFilterInput:
    stages: list[str] = strawberry.field(default_factory=list, description="Lifecycle stages")
    sources: list[str] = strawberry.field(default_factory=list, description="Lead sources")
    decaying: bool = strawberry.field(default=False, description="Only decaying leads")


@strawberry.input(description="A candidate rulebook and the leads to try it on.")
class SimulateRulebookInput:
    files: list[RuleFileInput] = strawberry.field(description="Every file of the candidate")
    filter: LeadFilterInput | None = strawberry.field(default=None, description="Which leads")
    samples: int = strawberry.field(default=3, description="Sample leads per kind of change")
    limit: int | None = strawberry.field(default=None, description="At most this many leads")


@strawberry.type(description="The simulation report, or why there is none.")
class SimulateRulebookPayload:
    report: SimulationReport | None = strawberry.field(description="What would change")
    user_errors: list[UserError] = strawberry.field(description="Empty on success")


@strawberry.type
class SimulationQueries:
    @strawberry.field(description="What publishing a candidate rulebook would change (no writes)")
    async def simulate_rulebook(
        self, info: Info, input: SimulateRulebookInput
    ) -> SimulateRulebookPayload:
        try:
            report = await _simulate(info, input)
        except LeadgateError as exc:
            return SimulateRulebookPayload(report=None, user_errors=errors_of(exc))
        return SimulateRulebookPayload(report=report, user_errors=[])


async def _simulate(info: Info, input: SimulateRulebookInput) -> SimulationReport:
    if not 0 <= input.samples <= MAX_SAMPLES:
        raise InvalidInput(f"samples must be 0 to {MAX_SAMPLES}", field="samples")
    limit = input.limit if input.limit is not None else MAX_LEADS
    if not 1 <= limit <= MAX_LEADS:
        raise InvalidInput(f"limit must be 1 to {MAX_LEADS}", field="limit")
    given = input.filter or LeadFilterInput()
    lead_filter = LeadFilter.parse(
        stages=given.stages, sources=given.sources, decaying=given.decaying
    )
    book = await asyncio.to_thread(validate_files, files_of(input.files), root="<candidate>")
    current = info.context.engine  # leased for this request: it stays open until the end
    shared: CandidateEngines | None = getattr(info.context.request.app.state, "candidates", None)
    if shared is not None:  # the app's candidate pool (api/candidates.py), kept open
        candidate = await shared.engine(book)
    else:  # an app without its lifespan: a worker for this request
        candidate = await asyncio.to_thread(
            RulesEngine, book, workers=1, timeout_s=info.context.settings.engine_timeout_s
        )
    try:
        impact = await simulate(
            current=current,
            candidate=candidate,
            lead_filter=lead_filter,
            samples=input.samples,
            limit=limit,
        )
    finally:
        if shared is None:
            await candidate.close()
    return SimulationReport.build(impact, current, candidate)
