"""Reading one lead's facts from the database into the engine's input model."""

from __future__ import annotations

from datetime import datetime, timedelta

from tortoise.functions import Count

from api.enums import HandoffStatus
from api.models import Account, Activity, Campaign, Handoff, Lead, SalesRep, TargetingAdjustment
from rules import (
    AccountData,
    ActivityData,
    AdjustmentData,
    EvaluationInput,
    LeadData,
    RepData,
)


async def build_input(*, lead: Lead, now: datetime, lookback_days: float) -> EvaluationInput:
    """The complete snapshot one evaluation needs, stored with it so it can be replayed."""
    account = await Account.get_or_none(id=lead.account_id) if lead.account_id else None  # type: ignore[attr-defined]
    campaign = (
        await Campaign.get_or_none(id=lead.first_campaign_id)  # type: ignore[attr-defined]
        if lead.first_campaign_id  # type: ignore[attr-defined]
        else None
    )
    since = now - timedelta(days=lookback_days)
    activities = await Activity.filter(
        lead_id=lead.id, occurred_at__gte=since, occurred_at__lte=now
    ).order_by("occurred_at", "id")
    return EvaluationInput(
        lead=LeadData(
            email=lead.email,
            first_name=lead.first_name,
            last_name=lead.last_name,
            title=lead.title,
            seniority=lead.seniority,
            department=lead.department,
            country=lead.country,
            source=lead.source,
            campaign=campaign.key if campaign else None,
            stage=lead.stage.value,
            created_at=lead.created_at,
        ),
        account=_account(account),
        activities=[
            ActivityData(type=a.type, occurred_at=a.occurred_at, properties=a.properties)
            for a in activities
        ],
        adjustments=await _adjustments(account, campaign, now),
        reps=await _reps(),
        now=now,
    )


def _account(account: Account | None) -> AccountData:
    if account is None:
        return AccountData()
    return AccountData(
        domain=account.domain,
        name=account.name,
        industry=account.industry,
        employee_count=account.employee_count,
        annual_revenue=float(account.annual_revenue)
        if account.annual_revenue is not None
        else None,
        country=account.country,
        segment=account.segment,
    )


async def _adjustments(
    account: Account | None, campaign: Campaign | None, now: datetime
) -> list[AdjustmentData]:
    scopes = []
    if account is not None and account.segment:
        scopes.append(("segment", account.segment))
    if campaign is not None:
        scopes.append(("campaign", campaign.key))
    if not scopes:
        return []
    rows = await TargetingAdjustment.filter(
        expires_at__gt=now, starts_at__lte=now, revoked_at__isnull=True
    ).filter(scope_value__in=[v for _, v in scopes])
    wanted = set(scopes)
    return [
        AdjustmentData(
            score=r.score,
            delta=r.delta,
            scope=r.scope_kind,
            scope_value=r.scope_value,
            expires_at=r.expires_at,
            rule=r.rule,
        )
        for r in rows
        if (r.scope_kind, r.scope_value) in wanted
    ]


async def _reps() -> list[RepData]:
    reps = await SalesRep.all().order_by("id")
    open_rows = (
        await Handoff.filter(status=HandoffStatus.PENDING)
        .annotate(n=Count("id"))
        .group_by("owner_id")
        .values_list("owner_id", "n")
    )
    open_by_rep = {int(owner): int(n) for owner, n in open_rows}
    return [
        RepData(
            rep_id=str(r.id),
            name=r.name,
            territory=r.territory,
            segments=list(r.segments),
            capacity=r.capacity,
            open_handoffs=open_by_rep.get(r.id, 0),
            active=r.active,
            last_assigned_at=r.last_assigned_at,
        )
        for r in reps
    ]
