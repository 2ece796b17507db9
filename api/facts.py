"""Reading leads' facts from the database into the engine's input model."""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

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


async def build_input(
    *, lead: Lead, now: datetime, lookback_days: float, reps: bool = True
) -> EvaluationInput:
    """The complete snapshot one evaluation needs, stored with it so it can be replayed.

    The same input as :func:`build_inputs` gives for one lead (test ``tests/api/
    test_facts.py``), read in three fixed raw statements (account with campaign, activities,
    adjustments) into the engine's models: evaluateLead is the busiest mutation, and building
    ORM queries and models cost more than the database. Activity properties are left out: no
    rule reads them and no record keeps them. ``reps`` False leaves the reps out (see
    :func:`build_inputs`)."""
    db = Lead._choose_db(for_write=True)  # the transaction's connection, inside one
    pg = db.capabilities.dialect == "postgres"
    account_id, campaign_id = lead.account_id, lead.first_campaign_id  # type: ignore[attr-defined]
    account, campaign = AccountData(), None
    if account_id is not None or campaign_id is not None:
        _, rows = await db.execute_query(_sql(_ACCOUNT, pg), [account_id, campaign_id])
        (domain, name, industry, employees, revenue, country, segment, campaign) = rows[0]
        if account_id is not None:
            account = AccountData(
                domain=domain,
                name=name,
                industry=industry,
                employee_count=employees,
                annual_revenue=None if revenue is None else float(Decimal(revenue)),
                country=country,
                segment=segment,
            )
    since = now - timedelta(days=lookback_days)
    _, rows = await db.execute_query(_sql(_ACTIVITIES, pg), [lead.id, since, now])
    activities = [  # rows the ORM wrote: the worker parsing the input validates them
        ActivityData.model_construct(type=kind, occurred_at=_at(at)) for kind, at in rows
    ]
    scopes = set()
    if account.segment:
        scopes.add(("segment", account.segment))
    if campaign is not None:
        scopes.add(("campaign", campaign))
    _, rows = await db.execute_query(_sql(_ADJUSTMENTS, pg), [now, now])
    adjustments = [
        AdjustmentData(
            score=score, delta=delta, scope=kind, scope_value=value, expires_at=_at(ends), rule=rule
        )
        for score, delta, kind, value, ends, rule in rows
        if (kind, value) in scopes
    ]
    return EvaluationInput(
        lead=_lead_data(lead, campaign),
        account=account,
        activities=activities,
        adjustments=adjustments,
        reps=await reps_now(now) if reps else [],
        now=now,
    )


_ACCOUNT = (
    "SELECT a.domain, a.name, a.industry, a.employee_count, a.annual_revenue, a.country, "
    'a.segment, c."key" FROM (SELECT 1 AS one) AS o LEFT JOIN account a ON a.id = $1 '
    "LEFT JOIN campaign c ON c.id = $2"
)
_ACTIVITIES = (
    "SELECT type, occurred_at FROM activity WHERE lead_id = $1 AND occurred_at >= $2 "
    "AND occurred_at <= $3 ORDER BY occurred_at, id"
)
_ADJUSTMENTS = (
    "SELECT score, delta, scope_kind, scope_value, expires_at, rule FROM targeting_adjustment "
    "WHERE expires_at > $1 AND starts_at <= $2 AND revoked_at IS NULL ORDER BY id"
)


@functools.cache
def _sql(text: str, pg: bool) -> str:
    """PostgreSQL's ``$n`` placeholders, or SQLite's ``?`` (parameters are in order)."""
    return text if pg else re.sub(r"\$\d+", "?", text)


def _at(value: Any) -> datetime:
    """asyncpg gives aware datetimes; SQLite the ISO text tortoise wrote."""
    at: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _lead_data(lead: Lead, campaign: str | None) -> LeadData:
    return LeadData(
        email=lead.email,
        first_name=lead.first_name,
        last_name=lead.last_name,
        title=lead.title,
        seniority=lead.seniority,
        department=lead.department,
        country=lead.country,
        source=lead.source,
        campaign=campaign,
        stage=lead.stage.value,
        created_at=lead.created_at,
    )


async def build_inputs(
    *, leads: Sequence[Lead], now: datetime, lookback_days: float, reps: bool = True
) -> dict[int, EvaluationInput]:
    """Snapshots for many leads with a fixed number of queries, whatever their number.

    ``reps`` False skips the four reads of the reps' state: routing and SLA, the only rules
    that read reps, run only for a lead whose evaluation ends at the handoff stage, and a
    record keeps reps only then (api.evaluations.pack_input)."""
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
    rep_data = await reps_now(now) if reps else []
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
            lead=_lead_data(lead, campaign.key if campaign else None),
            account=_account(account),
            activities=activities[lead.id],
            adjustments=[a for a in adjustments if (a.scope, a.scope_value) in scopes],
            reps=rep_data,
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
