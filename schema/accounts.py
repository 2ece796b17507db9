"""Accounts in GraphQL: companies by segment and customer status, with their leads and deals."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Self

import strawberry
from strawberry import relay
from tortoise.expressions import Q

from api.models import Account as AccountRow
from api.models import Deal as DealRow
from api.models import Lead as LeadRow
from schema.context import Info
from schema.pagination import Connection, id_connection

if TYPE_CHECKING:
    from schema.deals import Deal
    from schema.leads import Lead


@strawberry.type(description="A company, matched by email or website domain.")
class Account(relay.Node):
    id: relay.NodeID[int]
    domain: str = strawberry.field(description="Company domain, e.g. acme.com")
    name: str | None = strawberry.field(description="Company name")
    industry: str | None = strawberry.field(description="Industry")
    employee_count: int | None = strawberry.field(description="Headcount")
    annual_revenue: Decimal | None = strawberry.field(description="Annual revenue, USD")
    country: str | None = strawberry.field(description="ISO 3166 alpha-2 country")
    segment: str | None = strawberry.field(description="enterprise, mid_market or smb")
    customer_since: datetime | None = strawberry.field(description="When the first deal was won")
    churned_at: datetime | None = strawberry.field(description="When it stopped being a customer")

    @classmethod
    def from_row(cls, row: AccountRow) -> Self:
        return cls(
            id=row.id,
            domain=row.domain,
            name=row.name,
            industry=row.industry,
            employee_count=row.employee_count,
            annual_revenue=row.annual_revenue,
            country=row.country,
            segment=row.segment,
            customer_since=row.customer_since,
            churned_at=row.churned_at,
        )

    @strawberry.field(description="Its leads, newest first")
    async def leads(
        self,
        info: Info,
        first: Annotated[int | None, strawberry.argument(description="Page size, ≤100")] = None,
        after: Annotated[str | None, strawberry.argument(description="endCursor")] = None,
    ) -> Connection[Annotated[Lead, strawberry.lazy("schema.leads")]]:
        from schema.leads import Lead as LeadType  # the leads module imports this one

        query = LeadRow.filter(account_id=self.id)
        pages = info.context.loaders.account_leads
        return await id_connection(
            "account_lead", query, LeadType.from_row, first=first, after=after,
            batch=(pages, self.id),
        )  # fmt: skip

    @strawberry.field(description="Its deals, newest first")
    async def deals(
        self,
        info: Info,
        first: Annotated[int | None, strawberry.argument(description="Page size, ≤100")] = None,
        after: Annotated[str | None, strawberry.argument(description="endCursor")] = None,
    ) -> Connection[Annotated[Deal, strawberry.lazy("schema.deals")]]:
        from schema.deals import Deal as DealType  # the deals module imports this one

        query = DealRow.filter(account_id=self.id)
        pages = info.context.loaders.account_deals
        return await id_connection(
            "account_deal", query, DealType.from_row, first=first, after=after,
            batch=(pages, self.id),
        )  # fmt: skip

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        rows = await info.context.loaders.account.load_many([int(i) for i in node_ids])
        return [cls.from_row(r) if r else None for r in rows]


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
