"""The audit trail in GraphQL: who changed reps, campaigns, keys and personal data."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Self, cast

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from api.enums import Role
from api.models import AuditEntry as AuditEntryRow
from schema.context import Info
from schema.loaders import by_id
from schema.pagination import Connection, id_connection


@strawberry.type(description="One change made through the admin surface.")
class AuditEntry(relay.Node):
    id: relay.NodeID[int]
    actor: str = strawberry.field(description="key:<name>, cli or local-admin")
    action: str = strawberry.field(description="e.g. rep.deactivate, campaign.cost, lead.erase")
    subject: relay.GlobalID = strawberry.field(description="Global id of what changed")
    details: JSON = strawberry.field(description="Before/after values, never personal data")
    created_at: datetime = strawberry.field(description="When")

    @classmethod
    def from_row(cls, row: AuditEntryRow) -> Self:
        return cls(
            id=row.id,
            actor=row.actor,
            action=row.action,
            subject=relay.GlobalID.from_id(row.subject),
            details=cast(JSON, row.details),
            created_at=row.created_at,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        if info.context.principal is None or info.context.principal.role != Role.ADMIN:
            return [None for _ in node_ids]  # the trail is an admin's, like auditEntries
        rows = await by_id(AuditEntryRow)([int(i) for i in node_ids])
        return [cls.from_row(r) if r else None for r in rows]


@strawberry.type
class AuditQueries:
    @strawberry.field(description="The audit trail, newest first (admins only)")
    async def audit_entries(
        self,
        info: Info,
        subject: Annotated[
            relay.GlobalID | None, strawberry.argument(description="Only about this object")
        ] = None,
        first: Annotated[int | None, strawberry.argument(description="Page size, ≤100")] = None,
        after: Annotated[str | None, strawberry.argument(description="endCursor")] = None,
    ) -> Connection[AuditEntry]:
        query = AuditEntryRow.all()
        if subject is not None:
            query = query.filter(subject=str(subject))
        return await id_connection("audit", query, AuditEntry.from_row, first=first, after=after)
