"""Handoffs in GraphQL: the Handoff type, the list sales works from, and accepting or
rejecting one. Thin over api.handoffs."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated, Self

import strawberry
from strawberry import relay

from api import handoffs as handoff_service
from api.enums import HandoffStatus
from api.errors import LeadgateError
from api.models import Handoff as HandoffRow
from api.models import Lead as LeadRow
from schema.context import Info
from schema.distribution import HandoffStep
from schema.errors import UserError, user_error
from schema.followups import capacity_freed, feedback_recorded
from schema.ids import node_id
from schema.leads import Lead
from schema.loaders import by_id
from schema.pagination import (
    Connection,
    build_connection,
    decode_cursor,
    memory_connection,
    page_size,
)
from schema.reps import SalesRep


@strawberry.type(description="A qualified lead handed to a sales owner, with a deadline.")
class Handoff(relay.Node):
    id: relay.NodeID[int]
    status: HandoffStatus = strawberry.field(
        description="pending, accepted, rejected, expired, queued (in a fallback queue)"
    )
    priority: str = strawberry.field(description="SLA priority")
    sla_deadline: datetime = strawberry.field(description="First touch is due by then")
    reason_code: str | None = strawberry.field(description="Rejection reason code")
    note: str | None = strawberry.field(description="Rejection note")
    decided_at: datetime | None = strawberry.field(description="Accepted or rejected at")
    breached_at: datetime | None = strawberry.field(description="When the SLA was breached")
    created_at: datetime = strawberry.field(description="Handed off at")
    route: str | None = strawberry.field(description="The route that picked the first owner")
    escalations: int = strawberry.field(description="Times it went to the next rep")
    escalate_at: datetime | None = strawberry.field(
        description="When it goes to the next rep or the fallback if still not accepted"
    )
    queue: str | None = strawberry.field(description="The fallback queue (status queued)")
    lead_id: strawberry.Private[int]
    owner_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: HandoffRow, now: datetime | None = None) -> Self:
        return cls(
            id=row.id,
            status=handoff_service.shown_status(row, now or datetime.now(UTC)),
            priority=row.priority,
            sla_deadline=row.sla_deadline,
            reason_code=row.reason_code,
            note=row.note,
            decided_at=row.decided_at,
            breached_at=row.breached_at,
            created_at=row.created_at,
            route=row.route,
            escalations=row.escalations,
            escalate_at=row.escalate_at,
            queue=row.queue,
            lead_id=row.lead_id,  # type: ignore[attr-defined]
            owner_id=row.owner_id,  # type: ignore[attr-defined]
        )

    @strawberry.field(description="The lead handed off")
    async def lead(self, info: Info) -> Lead:
        row = await info.context.loaders.lead.load(self.lead_id)
        assert row is not None  # handoffs cascade with their lead
        return Lead.from_row(row)

    @strawberry.field(description="The sales owner")
    async def owner(self, info: Info) -> SalesRep | None:
        row = await info.context.loaders.rep.load(self.owner_id)
        return SalesRep.from_row(row) if row else None

    @strawberry.field(description="Every owner it had and why (assignment, escalations, fallback)")
    async def steps(
        self,
        info: Info,
        first: Annotated[int | None, strawberry.argument(description="Page size, ≤100")] = None,
        after: Annotated[str | None, strawberry.argument(description="endCursor")] = None,
    ) -> Connection[HandoffStep]:
        rows = await info.context.loaders.handoff_steps.load(self.id)
        return memory_connection(
            "handoff_step", rows, HandoffStep.from_row, first=first, after=after
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: strawberry.Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        rows = await by_id(HandoffRow)([int(i) for i in node_ids])
        return [cls.from_row(r) if r else None for r in rows]


@strawberry.input(description="Accept a handoff.")
class AcceptHandoffInput:
    handoff_id: relay.GlobalID = strawberry.field(description="The handoff")


@strawberry.input(description="Reject a handoff with a reason code from the rulebook.")
class RejectHandoffInput:
    handoff_id: relay.GlobalID = strawberry.field(description="The handoff")
    reason: str = strawberry.field(description="A `reasons.reject` code of the rulebook")
    note: str | None = strawberry.field(default=None, description="Free text for marketing")


@strawberry.type(description="Result of a handoff decision.")
class HandoffPayload:
    handoff: Handoff | None = strawberry.field(description="The handoff after the decision")
    lead: Lead | None = strawberry.field(description="The lead after the decision")
    user_errors: list[UserError] = strawberry.field(description="Empty on success")


@strawberry.type
class HandoffQueries:
    @strawberry.field(description="Handoffs, newest first. Overdue ones show as expired.")
    async def handoffs(
        self,
        info: Info,
        owner_id: Annotated[
            relay.GlobalID | None, strawberry.argument(description="Only this rep's")
        ] = None,
        status: Annotated[
            HandoffStatus | None, strawberry.argument(description="Only this status")
        ] = None,
        first: Annotated[int | None, strawberry.argument(description="Page size ≤100")] = None,
        after: Annotated[str | None, strawberry.argument(description="endCursor")] = None,
    ) -> Connection[Handoff]:
        now = datetime.now(UTC)
        size = page_size(first)
        query = HandoffRow.all().order_by("-id")
        if owner_id is not None:
            query = query.filter(owner_id=node_id(owner_id, "SalesRep", "ownerId"))
        if status is not None:
            query = handoff_service.with_shown_status(query, status, now)
        count = query.count
        if after is not None:
            query = query.filter(id__lt=decode_cursor("handoff", after))
        rows = await query.limit(size + 1)
        return build_connection(
            "handoff",
            [Handoff.from_row(r, now) for r in rows],
            [r.id for r in rows],
            size,
            after,
            count=count,
        )


@strawberry.type
class HandoffMutations:
    @strawberry.mutation(description="The owner takes the lead (lead becomes SAL)")
    async def accept_handoff(self, info: Info, input: AcceptHandoffInput) -> HandoffPayload:
        try:
            principal = info.context.principal
            handoff = await handoff_service.accept_handoff(
                handoff_id=node_id(input.handoff_id, "Handoff", "handoffId"),
                actor=principal.actor if principal else "api",
                rep_id=principal.rep_id if principal else None,
            )
        except LeadgateError as exc:
            return HandoffPayload(handoff=None, lead=None, user_errors=[user_error(exc)])
        capacity_freed(info)
        return await _handoff_payload(handoff)

    @strawberry.mutation(description="Sales rejects a handoff with a reason (lead is recycled)")
    async def reject_handoff(self, info: Info, input: RejectHandoffInput) -> HandoffPayload:
        principal = info.context.principal
        try:
            handoff = await handoff_service.reject_handoff(
                engine=info.context.engine,
                handoff_id=node_id(input.handoff_id, "Handoff", "handoffId"),
                reason=input.reason,
                note=input.note,
                actor=principal.actor if principal else "api",
                rep_id=principal.rep_id if principal else None,
            )
        except LeadgateError as exc:
            return HandoffPayload(handoff=None, lead=None, user_errors=[user_error(exc)])
        capacity_freed(info)
        feedback_recorded(info)
        return await _handoff_payload(handoff)


async def _handoff_payload(handoff: HandoffRow) -> HandoffPayload:
    lead = await LeadRow.get(id=handoff.lead_id)  # type: ignore[attr-defined]
    return HandoffPayload(
        handoff=Handoff.from_row(handoff), lead=Lead.from_row(lead), user_errors=[]
    )
