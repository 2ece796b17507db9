"""Evaluations in GraphQL: what fired, what each signal contributed, and why not (yet)."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Awaitable, Callable, Collection, Iterable
from datetime import datetime
from typing import Self, TypeVar, cast

import strawberry
from pydantic import BaseModel
from strawberry import relay
from strawberry.scalars import JSON

from api.engine import Focus, RulesEngine
from api.enums import EvaluationTrigger, LifecycleStage
from api.evaluations import stored_result, unpack_input
from api.evaluations import why_not as replay_why_not
from api.models import Evaluation as EvaluationRow
from api.nearmiss import headline as near_miss_headline
from api.nearmiss import near_miss_report
from rules import EvaluationInput, EvaluationResult
from rules import RuleExplanation as RuleExplanationData
from rules.models import RoutingOutcome as RoutingResult
from schema.headlines import HEADLINES, HeadlineKey
from schema.loaders import by_id
from schema.nearmiss import NearMissReport

T = TypeVar("T")


@strawberry.type(description="A rule that fired and what it did.")
class FiredRule:
    name: str = strawberry.field(description="Rule name as written in the rule file")
    section: str = strawberry.field(description="signals, qualification, routing, sla, …")
    effect: str = strawberry.field(description="e.g. `fit +20` or `stage new → mql`")


@strawberry.type(description="Points one signal added to one score, after decay.")
class ScoreContribution:
    signal: str = strawberry.field(description="Signal rule name")
    score: str = strawberry.field(description="Score it feeds, e.g. fit")
    points: float = strawberry.field(description="Points as written in the rule")
    matches: int = strawberry.field(description="Matching activities counted (else 1)")
    decay_factor: float = strawberry.field(
        description="Mean 0.5^(age/half-life) over the matches, 1 without decay"
    )
    value: float = strawberry.field(description="points times the sum of decay factors")
    activity_age_days: float | None = strawberry.field(
        description="Age of the newest matching activity"
    )


@strawberry.type(description="A named score: raw sum, targeting adjustment, cap, final value.")
class ScoreValue:
    name: str = strawberry.field(description="Score name")
    raw: float = strawberry.field(description="Sum of contributions")
    adjustment: float = strawberry.field(description="Active targeting adjustments, bounded")
    value: float = strawberry.field(description="Final value, clamped to the cap")
    cap: float = strawberry.field(description="Maximum value")


@strawberry.type(description="A condition of a rule that did not fire: actual vs required.")
class FailedCondition:
    condition: str = strawberry.field(description="As written, e.g. `scores.fit gte 30`")
    actual: str = strawberry.field(description="What the lead has")
    required: str = strawberry.field(description="What the rule needs")
    message: str = strawberry.field(description="e.g. `fit 28 < 30`")


@strawberry.type(description="A rule that did not fire, and the conditions that stopped it.")
class RuleExplanation:
    rule: str = strawberry.field(description="Rule name")
    section: str = strawberry.field(description="Rule-file section")
    failed: list[FailedCondition] = strawberry.field(description="Conditions that failed")


@strawberry.type(description="The stage decision of an evaluation.")
class StageOutcome:
    from_stage: str = strawberry.field(description="Stage before")
    to_stage: str | None = strawberry.field(description="Stage the rules asked for, if any")
    rule: str | None = strawberry.field(description="Rule that asked for it")
    reason: str | None = strawberry.field(description="Reason code, for disqualification")


@strawberry.type(description="Who the lead would go to, and why.")
class RoutingOutcome:
    route: str | None = strawberry.field(description="Routing rule that matched")
    rep_id: relay.GlobalID | None = strawberry.field(description="Global id of the chosen rep")
    why: str = strawberry.field(description="Explanation of the choice (or of no choice)")

    @classmethod
    def from_result(cls, routing: RoutingResult) -> Self:
        rep = routing.rep_id
        return cls(
            route=routing.route,
            rep_id=relay.GlobalID("SalesRep", rep) if rep is not None else None,
            why=routing.why,
        )


@strawberry.type(description="First-touch deadline chosen by the SLA rules.")
class SlaOutcome:
    rule: str | None = strawberry.field(description="SLA rule that set the priority")
    priority: str = strawberry.field(description="Priority name")
    hours: float = strawberry.field(description="Hours to first touch")
    deadline: datetime = strawberry.field(description="Deadline")
    clock: str = strawberry.field(
        description="`wall` (elapsed hours) or `business` (hours of the owner's working time)"
    )
    starts_at: datetime | None = strawberry.field(
        description="When the clock started, if after the evaluation: the lead was queued for "
        "a rep who was not available yet"
    )


Explain = Callable[[Collection[str] | None], Awaitable[list[RuleExplanationData]]]


@dataclasses.dataclass(eq=False)
class ReportSource:
    """What a report is built from: a fresh result, or a stored record that is parsed only
    when a part other than a known headline is asked for (a list page showing headlines
    never validates the record)."""

    focus: Focus
    given: EvaluationResult | None = None
    row: EvaluationRow | None = None
    explain: Explain | None = None
    """Replays "why not" on demand (stored records); None: ``result.not_fired`` is complete."""
    fact_input: Callable[[], EvaluationInput] | None = None
    """The input it ran on, for the near-miss what-ifs (unpacked only when asked for)."""
    headline: str | None = None
    """Known already (computed for a list page, see schema/lead_page.py)."""
    remember: HeadlineKey | None = None
    """Where a computed headline is kept (schema/headlines.py), if anywhere."""
    explained: dict[str, list[RuleExplanationData]] = dataclasses.field(default_factory=dict)

    @functools.cached_property
    def result(self) -> EvaluationResult:
        if self.given is not None:
            return self.given
        assert self.row is not None
        return stored_result(self.row)

    async def not_fired(self, only: frozenset[str] | None) -> list[RuleExplanationData]:
        """Computed once per report; the headline needs only the rules to the handoff stage."""
        if self.explain is None:
            return self.result.not_fired
        key = "all" if only is None else "focus"
        if "all" in self.explained:
            everything = self.explained["all"]
            return everything if only is None else [n for n in everything if n.rule in only]
        if key not in self.explained:
            self.explained[key] = await self.explain(only)
        return self.explained[key]

    async def compute_headline(self, engine: RulesEngine) -> str:
        result = self.result
        if _needs_explanation(result):
            explained = await self.not_fired(self.focus.rules)
            result = result.model_copy(update={"not_fired": explained})
        text = near_miss_headline(engine, result) or headline(result, self.focus)
        if self.remember is not None:
            HEADLINES.put(self.remember, text)
        return text


@strawberry.type(description="The full explanation of one run of the rulebook over one lead.")
class EvaluationReport:
    source: strawberry.Private[ReportSource]

    @strawberry.field(description="Content hash of the rulebook")
    def rulebook_version(self) -> str:
        return self.source.result.rulebook_version

    @strawberry.field(description="Rules that fired")
    def fired(self) -> list[FiredRule]:
        return [pick(FiredRule, f) for f in self.source.result.fired]

    @strawberry.field(description="Score parts")
    def contributions(self) -> list[ScoreContribution]:
        return [pick(ScoreContribution, c) for c in self.source.result.contributions]

    @strawberry.field(description="Final scores")
    def scores(self) -> list[ScoreValue]:
        return [pick(ScoreValue, s) for s in self.source.result.scores.values()]

    @strawberry.field(description="Stage decision")
    def stage(self) -> StageOutcome:
        return pick(StageOutcome, self.source.result.stage)

    @strawberry.field(description="Routing decision")
    def routing(self) -> RoutingOutcome:
        return RoutingOutcome.from_result(self.source.result.routing)

    @strawberry.field(description="SLA, when one applies")
    def sla(self) -> SlaOutcome | None:
        sla = self.source.result.sla
        return pick(SlaOutcome, sla) if sla else None

    @strawberry.field(description="Engine time")
    def duration_ms(self) -> float:
        return self.source.result.duration_ms

    @strawberry.field(description="Why other rules did not")
    async def not_fired(self) -> list[RuleExplanation]:
        return [
            RuleExplanation(
                rule=n.rule, section=n.section, failed=[pick(FailedCondition, f) for f in n.failed]
            )
            for n in await self.source.not_fired(None)
        ]

    @strawberry.field(
        description="One line: why qualified, or why not yet, naming the closest rule"
    )
    def headline(self, info: strawberry.Info) -> str:
        if self.source.headline is not None:  # a plain value: no task per list item
            return self.source.headline
        # graphql-core awaits what a resolver returns when it is awaitable
        return cast(str, self.source.compute_headline(info.context.engine))

    @strawberry.field(
        description="Near-miss report: per rule leading to the handoff stage what failed, in "
        "words, closest first, which new activity would close the gap, decay; owner and "
        "deadline apart. Null when the evaluation ran on another rulebook version."
    )
    async def gap(self, info: strawberry.Info) -> NearMissReport | None:
        source = self.source
        if source.fact_input is None:
            return None
        result = source.result.model_copy(update={"not_fired": await source.not_fired(None)})
        report = await near_miss_report(
            engine=info.context.engine, fact_input=source.fact_input(), result=result
        )
        return NearMissReport.of(report) if report else None

    @property
    def result(self) -> EvaluationResult:
        return self.source.result

    @classmethod
    def from_result(
        cls,
        result: EvaluationResult,
        focus: Focus,
        explain: Explain | None = None,
        fact_input: Callable[[], EvaluationInput] | None = None,
    ) -> Self:
        return cls(source=ReportSource(focus, given=result, explain=explain, fact_input=fact_input))


def _needs_explanation(result: EvaluationResult) -> bool:
    """Still short of the handoff stage (a move new → engaged included): the headline says
    what the closest rule misses."""
    return (result.stage.to_stage or result.stage.from_stage) in NURTURE


def pick(cls: type[T], model: BaseModel) -> T:
    """Copy the fields a GraphQL type declares from the engine's model (which may have more)."""
    return cls(**{f.name: getattr(model, f.name) for f in dataclasses.fields(cls)})  # type: ignore[arg-type]


NURTURE = frozenset({"new", "engaged", "recycled"})


def headline(result: EvaluationResult, focus: Focus) -> str:
    """ "Moved new → mql by rule X", or "Not mql yet: fit 28 < 50; no demo_request in 30
    days" from the rules that lead to the handoff stage."""
    stage = result.stage
    if stage.to_stage is not None and stage.to_stage != stage.from_stage:
        return f"Moved {stage.from_stage} → {stage.to_stage} by rule {stage.rule}"
    if stage.from_stage not in NURTURE:
        return f"Already {stage.from_stage}"
    misses = [f.message for n in result.not_fired if n.rule in focus.rules for f in n.failed]
    unique = list(dict.fromkeys(misses))
    return f"Not {focus.stage} yet: " + ("; ".join(unique[:5]) if unique else "no rule applies")


@strawberry.type(description="One stored, immutable evaluation of a lead.")
class Evaluation(relay.Node):
    id: relay.NodeID[int]
    trigger: EvaluationTrigger = strawberry.field(description="What started it")
    stage_before: LifecycleStage = strawberry.field(description="Stage before")
    stage_after: LifecycleStage = strawberry.field(description="Stage after, as applied")
    created_at: datetime = strawberry.field(description="When it ran")
    refused_transition: str | None = strawberry.field(
        description="Set when the rules asked for a move the lifecycle refused"
    )
    lead_id: strawberry.Private[int]
    row: strawberry.Private[EvaluationRow]
    focus: strawberry.Private[Focus]
    known_headline: strawberry.Private[str | None] = None
    """The report's headline when the caller computed it already (list pages)."""
    remember: strawberry.Private[HeadlineKey | None] = None
    """Where the report keeps its headline once computed (schema/headlines.py)."""
    explain_now: strawberry.Private[Explain | None] = None
    """Computes "why not" from the evaluation that wrote this record, when a report asks
    (evaluateLead: the engine explains nothing unless the answer needs it)."""

    @strawberry.field(description="The facts snapshot it ran on (replayable)")
    def input(self) -> JSON:
        return cast(JSON, unpack_input(self.row.input).model_dump(mode="json"))

    @strawberry.field(description="What fired and why")
    def report(self) -> EvaluationReport:
        return self.make_report()

    def make_report(self) -> EvaluationReport:
        """The report of the stored record; parsed, and "why not" replayed, only if asked for."""
        source = record_source(
            self.row,
            self.focus,
            self.known_headline,
            self.remember,
            explain_now=self.explain_now,
        )
        return EvaluationReport(source=source)

    @classmethod
    def from_row(cls, row: EvaluationRow, focus: Focus, headline: str | None = None) -> Self:
        return cls(
            id=row.id,
            trigger=row.trigger,
            stage_before=row.stage_before,
            stage_after=row.stage_after,
            created_at=row.created_at,
            refused_transition=row.outcome.get("refused_transition"),  # type: ignore[arg-type]
            lead_id=row.lead_id,  # type: ignore[attr-defined]
            row=row,
            focus=focus,
            known_headline=headline,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: strawberry.Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        rows = await by_id(EvaluationRow)([int(i) for i in node_ids])
        focus = info.context.engine.focus
        return [cls.from_row(r, focus) if r else None for r in rows]


def record_source(
    row: EvaluationRow,
    focus: Focus,
    headline: str | None = None,
    remember: HeadlineKey | None = None,
    *,
    explain_now: Explain | None = None,
) -> ReportSource:
    """A report source over a stored record: "why not" replays its input on its version,
    unless the evaluation that wrote the record can compute it from what it ran on
    (``explain_now``)."""
    source = ReportSource(focus, row=row, headline=headline, remember=remember)

    async def explain(only: Collection[str] | None) -> list[RuleExplanationData]:
        if explain_now is not None:
            return await explain_now(only)
        return await replay_why_not(row, focus.explainers, result=source.result, only=only)

    source.explain = explain
    source.fact_input = lambda: unpack_input(row.input)
    return source
