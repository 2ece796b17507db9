"""Batch activity intake: idempotent by external id, per-item errors, bulk writes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.transactions import in_transaction

from api.errors import InvalidInput, LeadgateError, NotFound
from api.locking import for_update
from api.models import Activity, Campaign, Lead
from rules.catalogue import ACTIVITY_TYPES

MAX_BATCH = 1000
MAX_CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class ActivityItem:
    lead_id: int
    type: str
    occurred_at: datetime
    external_id: str
    source: str | None = None
    campaign_key: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class ItemResult:
    """Per input item: stored, a duplicate of an external id seen before, or an error."""

    index: int
    lead_id: int | None = None
    activity_id: int | None = None
    duplicate: bool = False
    error: LeadgateError | None = None


@dataclass(frozen=True, slots=True)
class BatchResult:
    items: list[ItemResult]

    @property
    def affected_lead_ids(self) -> list[int]:
        """Leads that got at least one new activity: they need a fresh evaluation."""
        return sorted({r.lead_id for r in self.items if r.lead_id is not None and not r.duplicate})


async def record_activities(
    *, items: list[ActivityItem], now: datetime | None = None
) -> BatchResult:
    """Store a batch in one transaction with a fixed number of queries, whatever its size.

    Bad items (unknown lead, type or campaign, a time in the future) get an error each and the
    rest are stored. A replayed external id is reported as a duplicate and stored once.
    """
    if len(items) > MAX_BATCH:
        raise InvalidInput(
            f"at most {MAX_BATCH} activities per call, got {len(items)}",
            field="activities",
            suggestion="split the batch",
        )
    now = now or datetime.now(UTC)
    async with in_transaction():
        leads = await _lock_leads({i.lead_id for i in items})
        wanted_campaigns = {i.campaign_key for i in items if i.campaign_key}
        campaigns: dict[str, int] = dict(
            await Campaign.filter(key__in=wanted_campaigns).values_list("key", "id")
        )
        known = await _ids_by_external_id({i.external_id for i in items})
        results: list[ItemResult] = []
        rows: dict[str, Activity] = {}
        for index, item in enumerate(items):
            error = _check(item, leads, campaigns, now)
            if error is not None:
                results.append(ItemResult(index=index, error=error))
                continue
            duplicate = item.external_id in known or item.external_id in rows
            results.append(ItemResult(index=index, lead_id=item.lead_id, duplicate=duplicate))
            if not duplicate:
                rows[item.external_id] = _row(item, campaigns)
        if rows:
            await Activity.bulk_create(list(rows.values()), ignore_conflicts=True)
            known |= await _ids_by_external_id(set(rows))
        for item, result in zip(items, results, strict=True):
            if result.error is None:
                result.activity_id = known[item.external_id]
    return BatchResult(items=results)


async def _lock_leads(lead_ids: set[int]) -> set[int]:
    """The batch's leads that exist, row-locked in id order (no deadlock between batches).

    Two batches that share a lead run one after the other, so the second sees the first's
    external ids and answers ``duplicate`` instead of reporting the same activities as new
    (and triggering their evaluations) twice.
    """
    rows = await for_update(Lead.filter(id__in=lead_ids).order_by("id").only("id"))
    return {lead.id for lead in rows}


async def _ids_by_external_id(external_ids: set[str]) -> dict[str, int]:
    if not external_ids:
        return {}
    pairs = await Activity.filter(external_id__in=external_ids).values_list("external_id", "id")
    return {str(ext): int(pk) for ext, pk in pairs}


def _check(
    item: ActivityItem, leads: set[int], campaigns: dict[str, int], now: datetime
) -> LeadgateError | None:
    if item.lead_id not in leads:
        return NotFound(f"no lead with id {item.lead_id}", field="leadId")
    if item.type not in ACTIVITY_TYPES:
        return InvalidInput(
            f"unknown activity type {item.type!r}",
            field="type",
            suggestion=f"one of: {', '.join(ACTIVITY_TYPES)}",
        )
    if not item.external_id.strip():
        return InvalidInput("external id must not be empty", field="externalId")
    if item.occurred_at.tzinfo is None:
        return InvalidInput("occurredAt needs a time zone", field="occurredAt")
    if item.occurred_at > now + MAX_CLOCK_SKEW:
        return InvalidInput(
            f"occurredAt {item.occurred_at.isoformat()} is in the future", field="occurredAt"
        )
    if item.campaign_key is not None and item.campaign_key not in campaigns:
        return InvalidInput(f"unknown campaign {item.campaign_key!r}", field="campaignKey")
    return None


def _row(item: ActivityItem, campaigns: dict[str, int]) -> Activity:
    return Activity(
        lead_id=item.lead_id,
        type=item.type,
        occurred_at=item.occurred_at,
        external_id=item.external_id,
        source=item.source,
        campaign_id=campaigns.get(item.campaign_key) if item.campaign_key else None,
        properties=item.properties,
    )
