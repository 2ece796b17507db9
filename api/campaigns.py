"""Campaigns managed through the API: create, change, close, and record what they cost, day by
day, so CAC counts each cost in the period it was spent (api/metrics.py reads the entries)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime
from decimal import Decimal

from tortoise.exceptions import IntegrityError
from tortoise.functions import Count
from tortoise.transactions import in_transaction

from api import audit
from api.errors import Conflict, InvalidInput, NotFound
from api.locking import for_update
from api.models import Campaign, CampaignCost, Lead

KEY = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,99}$")
MAX_MONEY = Decimal("99999999999999.99")


@dataclass(frozen=True, slots=True)
class CampaignChanges:
    """What to set on a campaign; None means "keep"."""

    name: str | None = None
    channel: str | None = None
    starts_on: date | None = None
    ends_on: date | None = None
    budget: Decimal | None = None
    currency: str | None = None


def _money(value: Decimal, field: str) -> Decimal:
    if not value.is_finite() or value < 0 or value > MAX_MONEY:
        raise InvalidInput(f"{field} must be between 0 and {MAX_MONEY}, got {value}", field=field)
    if value != value.quantize(Decimal("0.01")):
        raise InvalidInput(f"{field} has more than two decimals: {value}", field=field)
    return value


def _check(changes: CampaignChanges, starts_on: date | None, ends_on: date | None) -> None:
    for name in ("name", "channel"):
        value = getattr(changes, name)
        if value is not None and not value.strip():
            raise InvalidInput(f"{name} cannot be empty", field=name)
    if changes.budget is not None:
        _money(changes.budget, "budget")
    if changes.currency is not None and not re.fullmatch(r"[A-Z]{3}", changes.currency):
        raise InvalidInput(
            f"currency must be an ISO 4217 code, got {changes.currency!r}",
            field="currency",
            suggestion="e.g. USD, EUR",
        )
    if starts_on is not None and ends_on is not None and ends_on < starts_on:
        raise InvalidInput(
            f"endsOn {ends_on} is before startsOn {starts_on}",
            field="endsOn",
            suggestion="end on or after the start day",
        )


async def create_campaign(
    *, key: str, changes: CampaignChanges, initial_cost: Decimal | None, actor: str
) -> Campaign:
    """A campaign leads can be attributed to (``campaignKey``); an initial cost becomes its
    first cost entry, on its start day (or today)."""
    if not KEY.match(key):
        raise InvalidInput(
            f"invalid campaign key {key!r}",
            field="key",
            suggestion="lower-case letters, digits, '-', '_' or '.', e.g. webinar-2026-q1",
        )
    if changes.name is None or changes.channel is None:
        raise InvalidInput("name and channel are required", field="name")
    _check(changes, changes.starts_on, changes.ends_on)
    values = {f.name: getattr(changes, f.name) for f in fields(changes)}
    values = {k: v.strip() if isinstance(v, str) else v for k, v in values.items() if v is not None}
    try:
        async with in_transaction():
            campaign = await Campaign.create(key=key, **values)
            await audit.record(
                actor=actor, action="campaign.create", type_name="Campaign", pk=campaign.id,
                details={"key": key, **{k: str(v) for k, v in values.items()}},
            )  # fmt: skip
            if initial_cost:
                on = changes.starts_on or datetime.now(UTC).date()
                await _add_cost(campaign, _money(initial_cost, "cost"), on, "initial cost", actor)
    except IntegrityError as exc:
        raise Conflict(
            f"a campaign with key {key!r} exists", field="key", suggestion="choose another key"
        ) from exc
    return campaign


async def _locked(campaign_id: int) -> Campaign:
    campaign = await for_update(Campaign.filter(id=campaign_id)).first()
    if campaign is None:
        raise NotFound(f"no campaign with id {campaign_id}", field="campaignId")
    return campaign


async def update_campaign(*, campaign_id: int, changes: CampaignChanges, actor: str) -> Campaign:
    async with in_transaction():
        campaign = await _locked(campaign_id)
        _check(
            changes,
            changes.starts_on or campaign.starts_on,
            changes.ends_on or campaign.ends_on,
        )
        diff = {
            f.name: getattr(changes, f.name)
            for f in fields(changes)
            if getattr(changes, f.name) is not None
            and getattr(campaign, f.name) != getattr(changes, f.name)
        }
        if diff:
            before = {k: str(getattr(campaign, k)) for k in diff}
            campaign.update_from_dict(diff)
            await campaign.save(update_fields=list(diff))
            await audit.record(
                actor=actor, action="campaign.update", type_name="Campaign", pk=campaign.id,
                details={"before": before, "after": {k: str(v) for k, v in diff.items()}},
            )  # fmt: skip
        return campaign


async def close_campaign(*, campaign_id: int, actor: str, on: date | None = None) -> Campaign:
    """No new leads are attributed to a closed campaign; its history and costs stay."""
    now = datetime.now(UTC)
    async with in_transaction():
        campaign = await _locked(campaign_id)
        if campaign.closed_at is not None:
            raise Conflict(f"campaign {campaign.key!r} is already closed", field="campaignId")
        ends_on = on or now.date()
        if campaign.starts_on is not None and ends_on < campaign.starts_on:
            raise InvalidInput(f"cannot end before the start {campaign.starts_on}", field="endsOn")
        campaign.closed_at = now
        campaign.ends_on = ends_on
        await campaign.save(update_fields=["closed_at", "ends_on"])
        await audit.record(
            actor=actor, action="campaign.close", type_name="Campaign", pk=campaign.id,
            details={"endsOn": ends_on.isoformat()},
        )  # fmt: skip
        return campaign


async def add_cost(
    *, campaign_id: int, amount: Decimal, incurred_on: date, note: str | None, actor: str
) -> CampaignCost:
    """Record money spent on a day; the campaign's total follows in the same transaction."""
    _money(amount, "amount")
    if amount == 0:
        raise InvalidInput("amount must be positive", field="amount")
    async with in_transaction():
        campaign = await _locked(campaign_id)
        return await _add_cost(campaign, amount, incurred_on, note, actor)


async def _add_cost(
    campaign: Campaign, amount: Decimal, incurred_on: date, note: str | None, actor: str
) -> CampaignCost:
    if campaign.cost and not await CampaignCost.filter(campaign_id=campaign.id).exists():
        # A cost from before entries existed (counted at the start): keep it as an entry there.
        start = campaign.starts_on or campaign.created_at.date()
        await CampaignCost.create(
            campaign_id=campaign.id, amount=campaign.cost, incurred_on=start,
            note="cost recorded before cost entries", created_by=actor,
        )  # fmt: skip
    entry = await CampaignCost.create(
        campaign_id=campaign.id, amount=amount, incurred_on=incurred_on, note=note,
        created_by=actor,
    )  # fmt: skip
    amounts = await CampaignCost.filter(campaign_id=campaign.id).values_list("amount", flat=True)
    campaign.cost = sum((Decimal(a) for a in amounts), Decimal(0))
    await campaign.save(update_fields=["cost"])
    await audit.record(
        actor=actor, action="campaign.cost", type_name="Campaign", pk=campaign.id,
        details={"amount": str(amount), "incurredOn": incurred_on.isoformat(),
                 "entry": audit.global_id("CampaignCost", entry.id)},
    )  # fmt: skip
    return entry


async def first_touch_lead_counts(campaign_ids: Sequence[int]) -> list[int]:
    """Leads each campaign brought in (first touch), one grouped query for any number."""
    rows = (
        await Lead.filter(first_campaign_id__in=list(campaign_ids))
        .annotate(n=Count("id"))
        .group_by("first_campaign_id")
        .values_list("first_campaign_id", "n")
    )
    counts = {int(campaign): int(n) for campaign, n in rows}
    return [counts.get(campaign_id, 0) for campaign_id in campaign_ids]
