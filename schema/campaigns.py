"""Campaigns in GraphQL: what leads are attributed to and what CAC divides by."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Self

import strawberry
from strawberry import relay

from api import campaigns as service
from api.errors import LeadgateError
from api.models import Campaign as CampaignRow
from api.models import CampaignCost as CampaignCostRow
from schema.context import Info
from schema.errors import UserError, user_error
from schema.ids import node_id
from schema.loaders import by_id
from schema.pagination import Connection, id_connection
from schema.reps import actor


@strawberry.type(description="Money spent on a campaign on one day.")
class CampaignCost(relay.Node):
    id: relay.NodeID[int]
    amount: Decimal = strawberry.field(description="Amount, in the campaign's currency")
    incurred_on: date = strawberry.field(description="Day spent: CAC counts it in its period")
    note: str | None = strawberry.field(description="What it was for")
    created_by: str | None = strawberry.field(description="Who recorded it")
    created_at: datetime = strawberry.field(description="Recorded at")

    @classmethod
    def from_row(cls, row: CampaignCostRow) -> Self:
        return cls(
            id=row.id,
            amount=row.amount,
            incurred_on=row.incurred_on,
            note=row.note,
            created_by=row.created_by,
            created_at=row.created_at,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        rows = await by_id(CampaignCostRow)([int(i) for i in node_ids])
        return [cls.from_row(r) if r else None for r in rows]


@strawberry.type(description="A marketing effort: leads are attributed to it, its cost to CAC.")
class Campaign(relay.Node):
    id: relay.NodeID[int]
    key: str = strawberry.field(description="What intake sends as campaignKey")
    name: str = strawberry.field(description="Display name")
    channel: str = strawberry.field(description="e.g. webinar, paid, email, events")
    starts_on: date | None = strawberry.field(description="First day")
    ends_on: date | None = strawberry.field(description="Last day")
    budget: Decimal | None = strawberry.field(description="Planned spend")
    cost: Decimal = strawberry.field(description="Total of the cost entries")
    currency: str = strawberry.field(description="ISO 4217 code")
    closed_at: datetime | None = strawberry.field(description="When it was closed")
    created_at: datetime = strawberry.field(description="Created at")

    @classmethod
    def from_row(cls, row: CampaignRow) -> Self:
        return cls(
            id=row.id,
            key=row.key,
            name=row.name,
            channel=row.channel,
            starts_on=row.starts_on,
            ends_on=row.ends_on,
            budget=row.budget,
            cost=row.cost,
            currency=row.currency,
            closed_at=row.closed_at,
            created_at=row.created_at,
        )

    @strawberry.field(description="Leads it brought in (first touch)")
    async def lead_count(self, info: Info) -> int:
        return await info.context.loaders.campaign_leads.load(self.id)

    @strawberry.field(description="What was spent, newest first")
    async def cost_entries(
        self,
        info: Info,
        first: Annotated[int | None, strawberry.argument(description="Page size, ≤100")] = None,
        after: Annotated[str | None, strawberry.argument(description="endCursor")] = None,
    ) -> Connection[CampaignCost]:
        query = CampaignCostRow.filter(campaign_id=self.id)
        return await id_connection(
            "campaign_cost", query, CampaignCost.from_row, first=first, after=after,
            batch=(info.context.loaders.campaign_costs, self.id),
        )  # fmt: skip

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        rows = await info.context.loaders.campaign.load_many([int(i) for i in node_ids])
        return [cls.from_row(r) if r else None for r in rows]


@strawberry.input(description="A new campaign.")
class CreateCampaignInput:
    key: str = strawberry.field(description="Unique key intake will send, e.g. webinar-2026-q1")
    name: str = strawberry.field(description="Display name")
    channel: str = strawberry.field(description="e.g. webinar, paid, email, events")
    starts_on: date | None = strawberry.field(default=None, description="First day")
    ends_on: date | None = strawberry.field(default=None, description="Last day")
    budget: Decimal | None = strawberry.field(default=None, description="Planned spend")
    currency: str = strawberry.field(default="USD", description="ISO 4217 code")
    cost: Decimal | None = strawberry.field(
        default=None, description="Initial cost: the first cost entry, on startsOn (or today)"
    )


@strawberry.input(description="Change a campaign. Omitted fields are kept.")
class UpdateCampaignInput:
    campaign_id: relay.GlobalID = strawberry.field(description="The campaign")
    name: str | None = strawberry.field(default=None, description="Display name")
    channel: str | None = strawberry.field(default=None, description="Channel")
    starts_on: date | None = strawberry.field(default=None, description="First day")
    ends_on: date | None = strawberry.field(default=None, description="Last day")
    budget: Decimal | None = strawberry.field(default=None, description="Planned spend")
    currency: str | None = strawberry.field(default=None, description="ISO 4217 code")


@strawberry.input(description="Close a campaign: its end day is set, its history stays.")
class CloseCampaignInput:
    campaign_id: relay.GlobalID = strawberry.field(description="The campaign")
    ends_on: date | None = strawberry.field(default=None, description="Last day (today)")


@strawberry.input(description="Record money spent on a campaign.")
class AddCampaignCostInput:
    campaign_id: relay.GlobalID = strawberry.field(description="The campaign")
    amount: Decimal = strawberry.field(description="> 0, at most two decimals")
    incurred_on: date = strawberry.field(description="Day spent: CAC counts it in its period")
    note: str | None = strawberry.field(default=None, description="What it was for")


@strawberry.type(description="Result of a campaign mutation.")
class CampaignPayload:
    campaign: Campaign | None = strawberry.field(description="The campaign after the change")
    user_errors: list[UserError] = strawberry.field(description="Empty on success")


@strawberry.type(description="Result of addCampaignCost.")
class AddCampaignCostPayload:
    cost: CampaignCost | None = strawberry.field(description="The new entry")
    campaign: Campaign | None = strawberry.field(description="The campaign, with its new total")
    user_errors: list[UserError] = strawberry.field(description="Empty on success")


def _changes(input: CreateCampaignInput | UpdateCampaignInput) -> service.CampaignChanges:
    return service.CampaignChanges(
        name=input.name,
        channel=input.channel,
        starts_on=input.starts_on,
        ends_on=input.ends_on,
        budget=input.budget,
        currency=input.currency,
    )


@strawberry.type
class CampaignQueries:
    @strawberry.field(description="Campaigns with their cost and lead counts, newest first")
    async def campaigns(
        self,
        info: Info,
        first: Annotated[int | None, strawberry.argument(description="Page size, ≤100")] = None,
        after: Annotated[str | None, strawberry.argument(description="endCursor")] = None,
        channel: Annotated[str | None, strawberry.argument(description="Only this channel")] = None,
        closed: Annotated[
            bool | None, strawberry.argument(description="Only closed (or open) campaigns")
        ] = None,
    ) -> Connection[Campaign]:
        query = CampaignRow.all()
        if channel is not None:
            query = query.filter(channel=channel)
        if closed is not None:
            query = query.filter(closed_at__isnull=not closed)
        return await id_connection("campaign", query, Campaign.from_row, first=first, after=after)


@strawberry.type
class CampaignMutations:
    @strawberry.mutation(description="Create a campaign leads can be attributed to")
    async def create_campaign(self, info: Info, input: CreateCampaignInput) -> CampaignPayload:
        try:
            row = await service.create_campaign(
                key=input.key, changes=_changes(input), initial_cost=input.cost, actor=actor(info)
            )
        except LeadgateError as exc:
            return CampaignPayload(campaign=None, user_errors=[user_error(exc)])
        return CampaignPayload(campaign=Campaign.from_row(row), user_errors=[])

    @strawberry.mutation(description="Change a campaign's name, channel, dates or budget")
    async def update_campaign(self, info: Info, input: UpdateCampaignInput) -> CampaignPayload:
        try:
            row = await service.update_campaign(
                campaign_id=node_id(input.campaign_id, "Campaign", "campaignId"),
                changes=_changes(input),
                actor=actor(info),
            )
        except LeadgateError as exc:
            return CampaignPayload(campaign=None, user_errors=[user_error(exc)])
        return CampaignPayload(campaign=Campaign.from_row(row), user_errors=[])

    @strawberry.mutation(description="Close a campaign (its history and costs stay)")
    async def close_campaign(self, info: Info, input: CloseCampaignInput) -> CampaignPayload:
        try:
            row = await service.close_campaign(
                campaign_id=node_id(input.campaign_id, "Campaign", "campaignId"),
                on=input.ends_on,
                actor=actor(info),
            )
        except LeadgateError as exc:
            return CampaignPayload(campaign=None, user_errors=[user_error(exc)])
        return CampaignPayload(campaign=Campaign.from_row(row), user_errors=[])

    @strawberry.mutation(description="Record money spent on a campaign on a day")
    async def add_campaign_cost(
        self, info: Info, input: AddCampaignCostInput
    ) -> AddCampaignCostPayload:
        try:
            entry = await service.add_cost(
                campaign_id=node_id(input.campaign_id, "Campaign", "campaignId"),
                amount=input.amount,
                incurred_on=input.incurred_on,
                note=input.note,
                actor=actor(info),
            )
        except LeadgateError as exc:
            return AddCampaignCostPayload(cost=None, campaign=None, user_errors=[user_error(exc)])
        campaign = await CampaignRow.get(id=entry.campaign_id)  # type: ignore[attr-defined]
        return AddCampaignCostPayload(
            cost=CampaignCost.from_row(entry), campaign=Campaign.from_row(campaign), user_errors=[]
        )
