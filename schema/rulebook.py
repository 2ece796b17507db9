"""The active rulebook as frontends see it: version, rules by section, reason codes."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Self

import strawberry
from strawberry import relay

from api.models import RulebookVersion
from api.rulebook_store import load_stored
from rules import Rulebook as RulebookModel
from schema.context import Info


@strawberry.type(description="A rule of the active rulebook.")
class RuleSummary:
    name: str = strawberry.field(description="Rule name, unique in the rulebook")
    section: str = strawberry.field(description="signals, qualification, routing, sla, feedback…")


@strawberry.type(description="Reason codes sales may use for one kind of decision.")
class ReasonCodes:
    kind: str = strawberry.field(description="reject, disqualify, recycle or lost")
    codes: list[str] = strawberry.field(description="Valid codes")


@strawberry.type(
    description="A published rulebook: the one the service evaluates with, or one stored before it."
)
class Rulebook(relay.Node):
    id: relay.NodeID[str]
    version: str = strawberry.field(description="Content hash of the rule files")
    published_at: datetime | None = strawberry.field(description="When it became active")
    rules: list[RuleSummary] = strawberry.field(description="Every rule, in file order")
    reasons: list[ReasonCodes] = strawberry.field(description="Reason codes per decision kind")
    score_names: list[str] = strawberry.field(description="Scores it computes")

    @classmethod
    def summary(cls, book: RulebookModel, published_at: datetime | None) -> Self:
        rules = [RuleSummary(name=s.name, section="signals") for s in book.signals]
        rules += [RuleSummary(name=t.name, section=t.section) for t in book.transitions]
        rules += [RuleSummary(name=r.name, section="routing") for r in book.routing.routes]
        rules += [RuleSummary(name=r.name, section="sla") for r in book.sla.rules]
        rules += [RuleSummary(name=f.name, section="feedback") for f in book.feedback]
        return cls(
            id=book.version,
            version=book.version,
            published_at=published_at,
            rules=rules,
            reasons=[ReasonCodes(kind=k, codes=list(v)) for k, v in sorted(book.reasons.items())],
            score_names=list(book.scores),
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = list(node_ids)
        rows = {r.version: r for r in await RulebookVersion.filter(version__in=ids)}
        active = info.context.engine.rulebook
        out: list[Self | None] = []
        for version in ids:
            row = rows.get(version)
            if version == active.version:
                out.append(cls.summary(active, row.published_at if row else None))
            elif row is not None:  # stored versions are immutable and were valid when stored
                out.append(cls.summary(await load_stored(row), row.published_at))
            else:
                out.append(None)
        return out


@strawberry.type
class RulebookQueries:
    @strawberry.field(description="The active rulebook")
    async def rulebook(self, info: Info) -> Rulebook:
        book = info.context.engine.rulebook
        row = await RulebookVersion.get_or_none(version=book.version)
        return Rulebook.summary(book, row.published_at if row else None)
