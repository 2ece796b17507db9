"""Shadow rulebook in GraphQL: start, stop, and what the candidate would have decided."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Self, cast

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from api import shadow as service
from api.enums import Role
from api.errors import LeadgateError
from api.models import ShadowDisagreement as DisagreementRow
from api.models import ShadowRun as ShadowRunRow
from schema.context import Info
from schema.errors import UserError, user_error
from schema.leads import Lead

MAX_SAMPLES = 100
READERS = frozenset({Role.REVOPS, Role.ADMIN})
"""Who may read shadows, also through ``node(id:)`` (like ``shadowReport``)."""


def _may_read(info: Info) -> bool:
    principal = info.context.principal
    return principal is not None and principal.role in READERS


@strawberry.type(description="A candidate rulebook running in shadow.")
class ShadowRun(relay.Node):
    id: relay.NodeID[int]
    candidate_version: str = strawberry.field(description="The candidate's version")
    compared: int = strawberry.field(description="Live evaluations compared so far")
    failed: int = strawberry.field(description="Evaluations the candidate failed on")
    started_by: str = strawberry.field(description="Who started it")
    started_at: datetime = strawberry.field(description="Started at")
    stopped_at: datetime | None = strawberry.field(description="Stopped at (null: running)")

    @classmethod
    def from_row(cls, row: ShadowRunRow) -> Self:
        return cls(
            id=row.id,
            candidate_version=row.candidate_version,
            compared=row.compared,
            failed=row.failed,
            started_by=row.started_by,
            started_at=row.started_at,
            stopped_at=row.stopped_at,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = [int(i) for i in node_ids]
        rows = {r.id: r for r in await ShadowRunRow.filter(id__in=ids)} if _may_read(info) else {}
        return [cls.from_row(rows[i]) if i in rows else None for i in ids]


@strawberry.type(description="A decision where the candidate differs from the live version.")
class ShadowDisagreement(relay.Node):
    id: relay.NodeID[int]
    kind: str = strawberry.field(description="stage, route or sla")
    live: JSON = strawberry.field(description="What the live version decided")
    candidate: JSON = strawberry.field(description="What the candidate would have decided")
    evaluation_id: relay.GlobalID = strawberry.field(description="Global id of the live evaluation")
    created_at: datetime = strawberry.field(description="Recorded at")
    lead_id: strawberry.Private[int]

    @strawberry.field(description="The lead")
    async def lead(self, info: Info) -> Lead | None:
        row = await info.context.loaders.lead.load(self.lead_id)
        return Lead.from_row(row) if row else None

    @classmethod
    def from_row(cls, row: DisagreementRow) -> Self:
        return cls(
            id=row.id,
            kind=row.kind,
            live=cast(JSON, row.live),
            candidate=cast(JSON, row.candidate),
            evaluation_id=relay.GlobalID("Evaluation", str(row.evaluation_id)),
            created_at=row.created_at,
            lead_id=row.lead_id,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = [int(i) for i in node_ids]
        found = await DisagreementRow.filter(id__in=ids) if _may_read(info) else []
        rows = {r.id: r for r in found}
        return [cls.from_row(rows[i]) if i in rows else None for i in ids]


@strawberry.type(description="Disagreement counts by kind.")
class ShadowCount:
    kind: str = strawberry.field(description="stage, route or sla")
    count: int = strawberry.field(description="Disagreements")


@strawberry.type(description="The running (or last) shadow and its disagreements.")
class ShadowReport:
    shadow: ShadowRun = strawberry.field(description="The shadow run")
    counts: list[ShadowCount] = strawberry.field(description="By kind")
    samples: list[ShadowDisagreement] = strawberry.field(description="The latest ones")


@strawberry.type(description="The shadow run, or why not.")
class ShadowPayload:
    shadow: ShadowRun | None = strawberry.field(description="The shadow run")
    user_errors: list[UserError] = strawberry.field(description="Empty on success")


@strawberry.input(description="Shadow a published, inactive version.")
class StartShadowInput:
    version: str = strawberry.field(description="Version hash or an unambiguous prefix (≥ 6)")


@strawberry.type
class ShadowQueries:
    @strawberry.field(description="Disagreements of the running (or last) shadow rulebook")
    async def shadow_report(self, samples: int = 10) -> ShadowReport | None:
        try:
            report = await service.shadow_report(samples=max(0, min(samples, MAX_SAMPLES)))
        except LeadgateError:
            return None  # no shadow has run
        return ShadowReport(
            shadow=ShadowRun.from_row(report.run),
            counts=[ShadowCount(kind=k, count=n) for k, n in report.counts.items()],
            samples=[ShadowDisagreement.from_row(r) for r in report.samples],
        )


@strawberry.type
class ShadowMutations:
    @strawberry.mutation(description="Evaluate a candidate beside every live evaluation")
    async def start_shadow(self, info: Info, input: StartShadowInput) -> ShadowPayload:
        principal = info.context.principal
        who = f"{principal.role}:{principal.name}" if principal else "unknown"
        try:
            row = await service.start_shadow(version=input.version, started_by=who)
        except LeadgateError as exc:
            return ShadowPayload(shadow=None, user_errors=[user_error(exc)])
        return ShadowPayload(shadow=ShadowRun.from_row(row), user_errors=[])

    @strawberry.mutation(description="Stop the running shadow (its report stays)")
    async def stop_shadow(self, info: Info) -> ShadowPayload:
        principal = info.context.principal
        who = f"{principal.role}:{principal.name}" if principal else "unknown"
        try:
            row = await service.stop_shadow(stopped_by=who)
        except LeadgateError as exc:
            return ShadowPayload(shadow=None, user_errors=[user_error(exc, prefix=())])
        return ShadowPayload(shadow=ShadowRun.from_row(row), user_errors=[])
