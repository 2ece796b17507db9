"""The active rulebook as frontends see it: version, rules by section, reason codes."""

from __future__ import annotations

from datetime import datetime

import strawberry

from api.models import RulebookVersion
from schema.context import Info


@strawberry.type(description="A rule of the active rulebook.")
class RuleSummary:
    name: str = strawberry.field(description="Rule name, unique in the rulebook")
    section: str = strawberry.field(description="signals, qualification, routing, sla, feedback…")


@strawberry.type(description="Reason codes sales may use for one kind of decision.")
class ReasonCodes:
    kind: str = strawberry.field(description="reject, disqualify, recycle or lost")
    codes: list[str] = strawberry.field(description="Valid codes")


@strawberry.type(description="The rulebook the service evaluates with.")
class Rulebook:
    version: str = strawberry.field(description="Content hash of the rule files")
    published_at: datetime | None = strawberry.field(description="When it became active")
    rules: list[RuleSummary] = strawberry.field(description="Every rule, in file order")
    reasons: list[ReasonCodes] = strawberry.field(description="Reason codes per decision kind")
    score_names: list[str] = strawberry.field(description="Scores it computes")


@strawberry.type
class RulebookQueries:
    @strawberry.field(description="The active rulebook")
    async def rulebook(self, info: Info) -> Rulebook:
        book = info.context.engine.rulebook
        row = await RulebookVersion.get_or_none(version=book.version)
        rules = [RuleSummary(name=s.name, section="signals") for s in book.signals]
        rules += [RuleSummary(name=t.name, section=t.section) for t in book.transitions]
        rules += [RuleSummary(name=r.name, section="routing") for r in book.routing.routes]
        rules += [RuleSummary(name=r.name, section="sla") for r in book.sla.rules]
        rules += [RuleSummary(name=f.name, section="feedback") for f in book.feedback]
        return Rulebook(
            version=book.version,
            published_at=row.published_at if row else None,
            rules=rules,
            reasons=[ReasonCodes(kind=k, codes=list(v)) for k, v in sorted(book.reasons.items())],
            score_names=list(book.scores),
        )
