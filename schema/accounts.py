"""The accounts list: companies by segment and customer status, with their leads and deals."""

from __future__ import annotations

from typing import Annotated

import strawberry
from tortoise.expressions import Q

from api.models import Account as AccountRow
from schema.context import Info
from schema.leads import Account
from schema.pagination import Connection, id_connection


@strawberry.type
class AccountQueries:
    @strawberry.field(description="Accounts, newest first, filtered by segment and status")
    async def accounts(
        self,
        info: Info,
        first: Annotated[int | None, strawberry.argument(description="Page size, ≤100")] = None,
        after: Annotated[str | None, strawberry.argument(description="endCursor")] = None,
        segment: Annotated[str | None, strawberry.argument(description="Only this segment")] = None,
        customer: Annotated[
            bool | None,
            strawberry.argument(description="true: customers now (won, not churned); false: not"),
        ] = None,
        churned: Annotated[
            bool | None, strawberry.argument(description="true: former customers; false: not")
        ] = None,
    ) -> Connection[Account]:
        query = AccountRow.all()
        if segment is not None:
            query = query.filter(segment=segment)
        if customer is True:
            query = query.filter(customer_since__isnull=False, churned_at__isnull=True)
        elif customer is False:
            query = query.filter(Q(customer_since__isnull=True) | Q(churned_at__isnull=False))
        if churned is not None:
            query = query.filter(churned_at__isnull=not churned)
        return await id_connection("account", query, Account.from_row, first=first, after=after)
