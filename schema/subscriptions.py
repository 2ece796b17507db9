"""Live updates over graphql-transport-ws: handoffs for sales frontends, evaluations per lead."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Annotated

import strawberry
from strawberry import relay

from api.errors import PermissionDenied
from api.models import Evaluation as EvaluationRow
from api.models import Handoff as HandoffRow
from schema.context import Info
from schema.evaluations import Evaluation
from schema.handoffs import Handoff
from schema.ids import node_id

HANDOFF_EVENTS = ("handoff", "sla_breached", "handoff_escalated")


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="New, breached and escalated handoffs of one rep (a rep's own key: that "
        "rep's only)"
    )
    async def handoffs(
        self,
        info: Info,
        owner_id: Annotated[
            relay.GlobalID | None,
            strawberry.argument(description="The rep. Defaults to the key's own rep"),
        ] = None,
    ) -> AsyncGenerator[Handoff, None]:
        principal = info.context.principal
        bound = principal.rep_id if principal else None
        owner = node_id(owner_id, "SalesRep", "ownerId") if owner_id is not None else bound
        if bound is not None and owner != bound:
            raise PermissionDenied("a rep's key can only follow that rep's handoffs")
        async for event in info.context.events.subscribe(kinds=HANDOFF_EVENTS, subject_id=owner):
            handoff_id = event.payload.get("id") or event.payload.get("handoff")
            row = await HandoffRow.get_or_none(id=handoff_id)
            if row is not None:
                yield Handoff.from_row(row)

    @strawberry.subscription(description="Every new evaluation of one lead")
    async def evaluations(
        self,
        info: Info,
        lead_id: Annotated[relay.GlobalID, strawberry.argument(description="The lead")],
    ) -> AsyncGenerator[Evaluation, None]:
        lead = node_id(lead_id, "Lead", "leadId")
        focus = info.context.engine.focus
        async for event in info.context.events.subscribe(kinds=("evaluation",), subject_id=lead):
            row = await EvaluationRow.get_or_none(id=event.payload.get("id"))
            if row is not None:
                yield Evaluation.from_row(row, focus)
