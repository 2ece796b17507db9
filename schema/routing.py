"""The queue of leads waiting for a rep (api/routing.py), oldest MQL first."""

from __future__ import annotations

from typing import Annotated

import strawberry

from api.routing import waiting_leads
from schema.context import Info
from schema.leads import Lead, LeadConnection
from schema.pagination import build_connection, decode_cursor, page_size


@strawberry.type
class RoutingQueries:
    @strawberry.field(
        description="Leads at the handoff stage that no rep could take yet (no free capacity, "
        "no rep in their route): routing is retried when capacity frees up or reps change"
    )
    async def unrouted_leads(
        self,
        info: Info,
        first: Annotated[int | None, strawberry.argument(description="Page size ≤100")] = None,
        after: Annotated[str | None, strawberry.argument(description="endCursor")] = None,
    ) -> LeadConnection:
        size = page_size(first)
        query = waiting_leads(info.context.engine.handoff_stage).order_by("id")
        count = query.count
        if after is not None:
            query = query.filter(id__gt=decode_cursor("unrouted", after))
        rows = await query.limit(size + 1)
        return build_connection(
            "unrouted",
            [Lead.from_row(r) for r in rows],
            [r.id for r in rows],
            size,
            after,
            count=count,
        )
