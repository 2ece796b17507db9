"""The near-miss report in GraphQL: ``report { gap { … } }`` on any evaluation report.

Three questions apart: why (not) qualified, why this owner, why this deadline. Resolved on
demand: the what-ifs behind "which new activity would qualify this lead" run through the engine
pool only when ``gap`` is asked for.
"""

from __future__ import annotations

from datetime import datetime
from typing import Self

import strawberry

from rules.nearmiss import Closer, DecayChange, NearMiss, RuleGap
from rules.nearmiss_words import ConditionGap


@strawberry.type(description="A condition that failed, in words.")
class GapCondition:
    condition: str = strawberry.field(description="As written, e.g. `scores.fit gte 40`")
    message: str = strawberry.field(description="e.g. `fit 37, needs 40: 3 points short`")
    score: str | None = strawberry.field(description="The score, for a score threshold")
    short_by: float | None = strawberry.field(description="Points missing (score thresholds)")
    activity: str | None = strawberry.field(description="Activity type an activity gap needs")

    @classmethod
    def of(cls, g: ConditionGap) -> Self:
        return cls(
            condition=g.condition,
            message=g.message,
            score=g.score,
            short_by=g.short_by,
            activity=g.activity,
        )


@strawberry.type(description="Points one score gains.")
class ScoreGain:
    score: str = strawberry.field(description="Score name")
    points: float = strawberry.field(description="Points gained (after decay and cap)")


@strawberry.type(description="A new activity that makes a rule fire (evaluated, not guessed).")
class GapCloser:
    activity: str = strawberry.field(description="Activity type, dated now")
    rule: str = strawberry.field(description="The rule it makes fire")
    gains: list[ScoreGain] = strawberry.field(description="What it adds to each score")
    signals: list[str] = strawberry.field(description="Signals that had not fired and now do")
    message: str = strawberry.field(description="e.g. `a demo_request (+30 engagement) would …`")

    @classmethod
    def of(cls, c: Closer) -> Self:
        gains = [ScoreGain(score=k, points=v) for k, v in c.gains.items()]
        return cls(
            activity=c.activity,
            rule=c.rule,
            gains=gains,
            signals=list(c.signals),
            message=c.message,
        )


@strawberry.type(description="One rule leading to the handoff stage and what it still needs.")
class RuleGapReport:
    rule: str = strawberry.field(description="Rule name")
    to_stage: str = strawberry.field(description="Stage it moves leads to")
    applies: bool = strawberry.field(description="False when the lead's stage is outside `from`")
    summary: str = strawberry.field(description="The rule and its gaps on one line")
    failed: list[GapCondition] = strawberry.field(description="Failed conditions, in words")
    closers: list[GapCloser] = strawberry.field(description="New activities that close the gap")

    @classmethod
    def of(cls, g: RuleGap) -> Self:
        return cls(
            rule=g.rule,
            to_stage=g.to_stage,
            applies=g.applies,
            summary=g.summary,
            failed=[GapCondition.of(f) for f in g.failed],
            closers=[GapCloser.of(c) for c in g.closers],
        )


@strawberry.type(description="A score threshold that decay alone will break.")
class DecayReport:
    rule: str = strawberry.field(description="Rule that uses the threshold")
    score: str = strawberry.field(description="Score name")
    threshold: float = strawberry.field(description="The threshold")
    at: datetime = strawberry.field(description="When the score falls below it")
    message: str = strawberry.field(description="e.g. `engagement falls below 30 on …`")

    @classmethod
    def of(cls, d: DecayChange) -> Self:
        return cls(rule=d.rule, score=d.score, threshold=d.threshold, at=d.at, message=d.message)


@strawberry.type(description="What stands between the lead and the handoff stage, and why.")
class NearMissReport:
    headline: str = strawberry.field(description="One line; names the closest rule")
    handoff_stage: str = strawberry.field(description="The stage the report is about (mql)")
    status: str = strawberry.field(
        description="qualified, not_qualified, disqualified or beyond (already past handoff)"
    )
    why_not_qualified: list[RuleGapReport] = strawberry.field(
        description="Rules leading to the handoff stage, closest first"
    )
    disqualified: str | None = strawberry.field(description="Rule and reason, when disqualified")
    decay: list[DecayReport] = strawberry.field(description="Changes decay alone will bring")
    why_owner: str = strawberry.field(description="Why this owner (or none)")
    why_deadline: str = strawberry.field(description="Why this deadline (or none)")

    @classmethod
    def of(cls, r: NearMiss) -> Self:
        return cls(
            headline=r.headline,
            handoff_stage=r.handoff_stage,
            status=r.status,
            why_not_qualified=[RuleGapReport.of(g) for g in r.why_not_qualified],
            disqualified=r.disqualified,
            decay=[DecayReport.of(d) for d in r.decay],
            why_owner=r.why_owner,
            why_deadline=r.why_deadline,
        )
