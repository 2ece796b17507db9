"""Deals and churn in GraphQL: thin resolvers over api.deals and api.churn."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Annotated, Self

import strawberry
from strawberry import relay

from api import deals as service
from api.churn import churn_account
from api.enums import DealStage
from api.errors import LeadgateError
from api.models import Deal as DealRow
from api.models import DealStageChange as DealStageChangeRow
from schema.accounts import Account
from schema.context import Info
from schema.errors import UserError, user_error
from schema.followups import feedback_recorded
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

strawberry.enum(DealStage, description="Where a deal stands")


@strawberry.type(description="One move of a deal between stages.")
class DealStageChange(relay.Node):
    id: relay.NodeID[int]
    from_stage: DealStage | None = strawberry.field(description="Null for the creation")
    to_stage: DealStage = strawberry.field(description="Stage entered")
    changed_by: str | None = strawberry.field(description="Who moved it")
    changed_at: datetime = strawberry.field(description="When")

    @classmethod
    def from_row(cls, row: DealStageChangeRow) -> Self:
        return cls(
            id=row.id,
            from_stage=row.from_stage,
            to_stage=row.to_stage,
            changed_by=row.changed_by,
            changed_at=row.changed_at,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        rows = await by_id(DealStageChangeRow)([int(i) for i in node_ids])
        return [cls.from_row(r) if r else None for r in rows]


@strawberry.type(description="An opportunity: from an accepted lead or directly for an account.")
class Deal(relay.Node):
    id: relay.NodeID[int]
    name: str = strawberry.field(description="What is being sold")
    stage: DealStage = strawberry.field(description="Current stage")
    amount: Decimal = strawberry.field(description="Deal value, ≥ 0, two decimals")
    currency: str = strawberry.field(description="ISO 4217 code")
    expected_close_on: date | None = strawberry.field(description="Forecast close date")
    closed_at: datetime | None = strawberry.field(description="When it was won or lost")
    close_reason: str | None = strawberry.field(description="Why it was won or lost")
    version: int = strawberry.field(description="Pass as expectedVersion when changing it")
    created_at: datetime = strawberry.field(description="Created at")
    updated_at: datetime = strawberry.field(description="Last changed")
    account_id: strawberry.Private[int]
    lead_id: strawberry.Private[int | None]
    owner_id: strawberry.Private[int | None]

    @classmethod
    def from_row(cls, row: DealRow) -> Self:
        return cls(
            id=row.id,
            name=row.name,
            stage=row.stage,
            amount=row.amount,
            currency=row.currency,
            expected_close_on=row.expected_close_on,
            closed_at=row.closed_at,
            close_reason=row.close_reason,
            version=row.version,
            created_at=row.created_at,
            updated_at=row.updated_at,
            account_id=row.account_id,  # type: ignore[attr-defined]
            lead_id=row.lead_id,  # type: ignore[attr-defined]
            owner_id=row.owner_id,  # type: ignore[attr-defined]
        )

    @strawberry.field(description="The account buying")
    async def account(self, info: Info) -> Account | None:
        row = await info.context.loaders.account.load(self.account_id)
        return Account.from_row(row) if row else None

    @strawberry.field(description="The lead it came from, if any")
    async def lead(self, info: Info) -> Lead | None:
        if self.lead_id is None:
            return None
        row = await info.context.loaders.lead.load(self.lead_id)
        return Lead.from_row(row) if row else None

    @strawberry.field(description="The sales owner")
    async def owner(self, info: Info) -> SalesRep | None:
        if self.owner_id is None:
            return None
        row = await info.context.loaders.rep.load(self.owner_id)
        return SalesRep.from_row(row) if row else None

    @strawberry.field(description="Every stage move, oldest first")
    async def stage_history(
        self,
        info: Info,
        first: Annotated[int | None, strawberry.argument(description="Page size, ≤100")] = None,
        after: Annotated[str | None, strawberry.argument(description="endCursor")] = None,
    ) -> Connection[DealStageChange]:
        # One query for the whole page of deals (a DataLoader), then paged here: a deal has
        # a handful of moves.
        rows = await info.context.loaders.deal_history.load(self.id)
        return memory_connection(
            "deal_stage_change", rows, DealStageChange.from_row, first=first, after=after
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = [int(i) for i in node_ids]
        rows = {r.id: r for r in await DealRow.filter(id__in=ids)}
        return [cls.from_row(rows[i]) if i in rows else None for i in ids]


@strawberry.input(description="A new deal: from a sales-accepted lead, or for an account.")
class CreateDealInput:
    name: str = strawberry.field(description="What is being sold")
    amount: Decimal = strawberry.field(description="Deal value, ≥ 0, at most two decimals")
    currency: str = strawberry.field(default="USD", description="ISO 4217 code")
    lead_id: relay.GlobalID | None = strawberry.field(
        default=None, description="A lead at sal or sql: it becomes an opportunity"
    )
    account_id: relay.GlobalID | None = strawberry.field(
        default=None, description="The account, when there is no lead"
    )
    owner_id: relay.GlobalID | None = strawberry.field(
        default=None, description="Sales owner (default: the lead's owner)"
    )
    expected_close_on: date | None = strawberry.field(default=None, description="Forecast close")


@strawberry.input(description="Move an open deal forward (stages may be skipped).")
class MoveDealStageInput:
    deal_id: relay.GlobalID = strawberry.field(description="The deal")
    stage: DealStage = strawberry.field(description="An open stage after the current one")
    expected_version: int = strawberry.field(description="The version you read")


@strawberry.enum(description="How a deal closed")
class DealOutcome(Enum):
    WON = "won"
    LOST = "lost"


@strawberry.input(description="Win or lose a deal.")
class CloseDealInput:
    deal_id: relay.GlobalID = strawberry.field(description="The deal")
    outcome: DealOutcome = strawberry.field(description="won or lost")
    expected_version: int = strawberry.field(description="The version you read")
    reason: str | None = strawberry.field(
        default=None, description="Required when lost: a `reasons.lost` code of the rulebook"
    )
    note: str | None = strawberry.field(default=None, description="Free text for marketing")


@strawberry.input(description="Reopen a closed deal, with a reason.")
class ReopenDealInput:
    deal_id: relay.GlobalID = strawberry.field(description="The deal")
    reason: str = strawberry.field(description="Why it is open again")
    expected_version: int = strawberry.field(description="The version you read")
    stage: DealStage = strawberry.field(
        default=DealStage.NEGOTIATION, description="Open stage to resume at"
    )


@strawberry.input(description="Change a deal's facts. Omitted fields are kept.")
class UpdateDealInput:
    deal_id: relay.GlobalID = strawberry.field(description="The deal")
    expected_version: int = strawberry.field(description="The version you read")
    name: str | None = strawberry.field(default=None, description="What is being sold")
    amount: Decimal | None = strawberry.field(default=None, description="Deal value, ≥ 0")
    currency: str | None = strawberry.field(default=None, description="ISO 4217 code")
    owner_id: relay.GlobalID | None = strawberry.field(default=None, description="Sales owner")
    expected_close_on: date | None = strawberry.field(
        default=strawberry.UNSET, description="Forecast close; null clears it"
    )


@strawberry.type(description="Result of a deal mutation.")
class DealPayload:
    deal: Deal | None = strawberry.field(description="The deal after the change")
    user_errors: list[UserError] = strawberry.field(description="Empty on success")


@strawberry.input(description="A customer left.")
class ChurnAccountInput:
    account_id: relay.GlobalID = strawberry.field(description="The account")
    churned_at: datetime = strawberry.field(description="When it churned (may be in the past)")
    note: str | None = strawberry.field(default=None, description="Why, for marketing")


@strawberry.type(description="Result of churnAccount.")
class ChurnAccountPayload:
    account: Account | None = strawberry.field(description="The account after the change")
    user_errors: list[UserError] = strawberry.field(description="Empty on success")


def _optional_id(value: relay.GlobalID | None, type_name: str, field: str) -> int | None:
    return None if value is None else node_id(value, type_name, field)


@strawberry.type
class DealQueries:
    @strawberry.field(description="Deals, newest first, one keyset page at a time")
    async def deals(
        self,
        info: Info,
        first: Annotated[int | None, strawberry.argument(description="Page size, ≤100")] = None,
        after: Annotated[str | None, strawberry.argument(description="endCursor")] = None,
        stage: Annotated[
            DealStage | None, strawberry.argument(description="Only this stage")
        ] = None,
        owner_id: Annotated[
            relay.GlobalID | None, strawberry.argument(description="Only this rep's")
        ] = None,
        account_id: Annotated[
            relay.GlobalID | None, strawberry.argument(description="Only this account's")
        ] = None,
    ) -> Connection[Deal]:
        size = page_size(first)
        query = DealRow.all().order_by("-id")
        if stage is not None:
            query = query.filter(stage=stage)
        if owner_id is not None:
            query = query.filter(owner_id=node_id(owner_id, "SalesRep", "ownerId"))
        if account_id is not None:
            query = query.filter(account_id=node_id(account_id, "Account", "accountId"))
        count = query.count
        if after is not None:
            query = query.filter(id__lt=decode_cursor("deal", after))
        rows = await query.limit(size + 1)
        return build_connection(
            "deal", [Deal.from_row(r) for r in rows], [r.id for r in rows], size, after, count=count
        )

    @strawberry.field(description="One deal by global id, or null")
    async def deal(self, info: Info, id: relay.GlobalID) -> Deal | None:
        if id.type_name != "Deal":
            return None
        row = await DealRow.get_or_none(id=int(id.node_id))
        return Deal.from_row(row) if row else None


def _actor(info: Info) -> str:
    principal = info.context.principal
    return principal.actor if principal else "api"


@strawberry.type
class DealMutations:
    @strawberry.mutation(description="Open a deal from an accepted lead or for an account")
    async def create_deal(self, info: Info, input: CreateDealInput) -> DealPayload:
        try:
            deal = await service.create_deal(
                name=input.name,
                amount=input.amount,
                currency=input.currency,
                lead_id=_optional_id(input.lead_id, "Lead", "leadId"),
                account_id=_optional_id(input.account_id, "Account", "accountId"),
                owner_id=_optional_id(input.owner_id, "SalesRep", "ownerId"),
                expected_close_on=input.expected_close_on,
                actor=_actor(info),
            )
        except LeadgateError as exc:
            return DealPayload(deal=None, user_errors=[user_error(exc)])
        return DealPayload(deal=Deal.from_row(deal), user_errors=[])

    @strawberry.mutation(description="Move an open deal forward")
    async def move_deal_stage(self, info: Info, input: MoveDealStageInput) -> DealPayload:
        try:
            deal = await service.move_deal_stage(
                deal_id=node_id(input.deal_id, "Deal", "dealId"),
                stage=input.stage,
                expected_version=input.expected_version,
                actor=_actor(info),
            )
        except LeadgateError as exc:
            return DealPayload(deal=None, user_errors=[user_error(exc)])
        return DealPayload(deal=Deal.from_row(deal), user_errors=[])

    @strawberry.mutation(description="Win (the account becomes a customer) or lose a deal")
    async def close_deal(self, info: Info, input: CloseDealInput) -> DealPayload:
        try:
            deal = await service.close_deal(
                engine=info.context.engine,
                deal_id=node_id(input.deal_id, "Deal", "dealId"),
                won=input.outcome == DealOutcome.WON,
                reason=input.reason,
                note=input.note,
                expected_version=input.expected_version,
                actor=_actor(info),
            )
        except LeadgateError as exc:
            return DealPayload(deal=None, user_errors=[user_error(exc)])
        feedback_recorded(info)
        return DealPayload(deal=Deal.from_row(deal), user_errors=[])

    @strawberry.mutation(description="Reopen a closed deal, with a reason")
    async def reopen_deal(self, info: Info, input: ReopenDealInput) -> DealPayload:
        try:
            deal = await service.reopen_deal(
                deal_id=node_id(input.deal_id, "Deal", "dealId"),
                reason=input.reason,
                stage=input.stage,
                expected_version=input.expected_version,
                actor=_actor(info),
            )
        except LeadgateError as exc:
            return DealPayload(deal=None, user_errors=[user_error(exc)])
        return DealPayload(deal=Deal.from_row(deal), user_errors=[])

    @strawberry.mutation(description="Change amount, currency, owner or expected close date")
    async def update_deal(self, info: Info, input: UpdateDealInput) -> DealPayload:
        try:
            changes = service.DealChanges(
                name=service.UNSET if input.name is None else input.name,
                amount=service.UNSET if input.amount is None else input.amount,
                currency=service.UNSET if input.currency is None else input.currency,
                owner_id=service.UNSET
                if input.owner_id is None
                else node_id(input.owner_id, "SalesRep", "ownerId"),
                expected_close_on=service.UNSET
                if input.expected_close_on is strawberry.UNSET
                else input.expected_close_on,
            )
            deal = await service.update_deal(
                deal_id=node_id(input.deal_id, "Deal", "dealId"),
                expected_version=input.expected_version,
                changes=changes,
                actor=_actor(info),
            )
        except LeadgateError as exc:
            return DealPayload(deal=None, user_errors=[user_error(exc)])
        return DealPayload(deal=Deal.from_row(deal), user_errors=[])

    @strawberry.mutation(description="Record that a customer left (retention counts from then)")
    async def churn_account(self, info: Info, input: ChurnAccountInput) -> ChurnAccountPayload:
        try:
            account = await churn_account(
                engine=info.context.engine,
                account_id=node_id(input.account_id, "Account", "accountId"),
                churned_at=input.churned_at,
                note=input.note,
                actor=_actor(info),
            )
        except LeadgateError as exc:
            return ChurnAccountPayload(account=None, user_errors=[user_error(exc)])
        feedback_recorded(info)
        return ChurnAccountPayload(account=Account.from_row(account), user_errors=[])
