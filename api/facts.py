"""Reading leads' facts from the database into the engine's input model."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta

from tortoise.functions import Count

from api.enums import HOLDING
from api.models import Account, Activity, Campaign, Handoff, Lead, SalesRep, TargetingAdjustment
from api.shares import load_shares
from api.worktime import current_absences, rep_data
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
    inputs = await build_inputs(leads=[lead], now=now, lookback_days=lookback_days)
    return inputs[lead.id]


async def build_inputs(
    *, leads: Sequence[Lead], now: datetime, lookback_days: float
) -> dict[int, EvaluationInput]:
    """Snapshots for many leads with a fixed number of queries, whatever their number."""
    account_ids = {lead.account_id for lead in leads if lead.account_id}  # type: ignore[attr-defined]
    campaign_ids = {lead.first_campaign_id for lead in leads if lead.first_campaign_id}  # type: ignore[attr-defined]
    accounts = {a.id: a for a in await Account.filter(id__in=account_ids)} if account_ids else {}
    campaigns = (
        {c.id: c for c in await Campaign.filter(id__in=campaign_ids)} if campaign_ids else {}
    )
    since = now - timedelta(days=lookback_days)
    activities: dict[int, list[ActivityData]] = defaultdict(list)
    for a in await Activity.filter(
        lead_id__in=[lead.id for lead in leads], occurred_at__gte=since, occurred_at__lte=now
    ).order_by("occurred_at", "id"):
        activities[a.lead_id].append(  # type: ignore[attr-defined]
            ActivityData(type=a.type, occurred_at=a.occurred_at, properties=a.properties)
        )
    adjustments = await _active_adjustments(now)
    reps = await reps_now(now)
    inputs = {}
    for lead in leads:
        account = accounts.get(lead.account_id)  # type: ignore[attr-defined]
        campaign = campaigns.get(lead.first_campaign_id)  # type: ignore[attr-defined]
        scopes = set()
        if account is not None and account.segment:
            scopes.add(("segment", account.segment))
        if campaign is not None:
            scopes.add(("campaign", campaign.key))
        inputs[lead.id] = EvaluationInput(
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
            activities=activities[lead.id],
            adjustments=[a for a in adjustments if (a.scope, a.scope_value) in scopes],
            reps=reps,
            now=now,
        )
    return inputs


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


async def _active_adjustments(now: datetime) -> list[AdjustmentData]:
    """All adjustments in force: few by construction (bounded, expiring, one per rule and scope)."""
    rows = await TargetingAdjustment.filter(
        expires_at__gt=now, starts_at__lte=now, revoked_at__isnull=True
    )
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
    ]


async def reps_now(now: datetime) -> list[RepData]:
    """Every rep with open handoffs, calendar, absences and this week's routing ledger.

    A rep's load is every handoff that holds capacity (``HOLDING``: pending and queued), as
    the bulk path counts it (api.bulk_write.open_handoff_leads)."""
    reps = await SalesRep.all().order_by("id")
    shares = await load_shares(now)
    open_rows = (
        await Handoff.filter(status__in=HOLDING)
        .annotate(n=Count("id"))
        .group_by("owner_id")
        .values_list("owner_id", "n")
    )
    open_by_rep = {int(owner): int(n) for owner, n in open_rows}
    away = await current_absences([r.id for r in reps], now)
    return [
        rep_data(r, open_handoffs=open_by_rep.get(r.id, 0), absences=absences).model_copy(
            update={"shares": shares.get(r.id, [])}
        )
        for r, absences in zip(reps, away, strict=True)
    ]
