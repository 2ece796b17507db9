"""Reading leads' facts from the database into the engine's input model."""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.functions import Count

from api.enums import HOLDING
from api.models import (
    Account,
    Activity,
    Campaign,
    Evaluation,
    Handoff,
    Lead,
    SalesRep,
    TargetingAdjustment,
)
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


@dataclass(frozen=True, slots=True)
class LeadRead:
    """A lead read for an evaluation in one statement: the row (locked when asked), its account
    and first campaign as the engine sees them, and the record in force (``record``: its id,
    lead and rulebook version; None when the lead points at none, or at a row that is gone)."""

    lead: Lead
    account: AccountData
    campaign: str | None
    record: tuple[int, int, str] | None
    record_row: dict[str, Any] | None = None
    """The record's columns as read with the lead, when they are current (see read_lead)."""

    def record_in_force(self) -> Evaluation | None:
        """The record in force as a model, from the columns read with the lead (None: not
        read with it; ask the database)."""
        row = self.record_row
        if row is None or row["id"] != self.lead.last_evaluation_id:
            return None
        return Evaluation._init_from_db(**row)


@functools.cache
def _columns(model: type[Lead] | type[Evaluation]) -> tuple[str, ...]:
    """A model's columns, as the ORM knows them once initialised (foreign keys included)."""
    return tuple(model._meta.fields_db_projection.values())


@functools.cache
def _read_lead_sql(lock: bool, pg: bool) -> str:
    lead = ", ".join(f'l."{c}"' for c in _columns(Lead))
    record = ", ".join(f'e."{c}"' for c in _columns(Evaluation))
    sql = (
        f"SELECT {lead}, a.id, a.domain, a.name, a.industry, a.employee_count, "
        f'a.annual_revenue, a.country, a.segment, c.id, c."key", {record} '
        'FROM "lead" l LEFT JOIN account a ON a.id = l.account_id '
        "LEFT JOIN campaign c ON c.id = l.first_campaign_id "
        "LEFT JOIN evaluation e ON e.id = l.last_evaluation_id WHERE l.id = $1"
    )
    return _sql(sql + (" FOR UPDATE OF l" if lock and pg else ""), pg)


async def read_lead(lead_id: int, *, lock: bool) -> LeadRead | None:
    """The lead (``SELECT … FOR UPDATE OF`` the lead row on PostgreSQL when ``lock``) with what
    else one evaluation reads of it, in one raw statement: evaluateLead's lock, account and
    campaign, and record-in-force reads were three statements (two built by the ORM).

    The joined rows are the ones the statement's snapshot saw; PostgreSQL re-checks only the
    locked lead row when a concurrent transaction changed it while the lock was awaited. So a
    changed account, campaign or record pointer makes the join miss, which is detected and
    read again; records change only by erasure, which sets the lead's ``erased_at`` in the
    same transaction, so an erased lead's record is read again (after the lock) too."""
    db = Lead._choose_db(for_write=True)  # the transaction's connection, inside one
    pg = db.capabilities.dialect == "postgres"
    _, rows = await db.execute_query(_read_lead_sql(lock, pg), [lead_id])
    if not rows:
        return None
    values = tuple(rows[0])
    lead_columns, record_columns = _columns(Lead), _columns(Evaluation)
    n = len(lead_columns)
    lead = Lead._init_from_db(**dict(zip(lead_columns, values[:n], strict=True)))
    account_id, *account_row, campaign_id, campaign = values[n : n + 10]
    if account_id != lead.account_id or campaign_id != lead.first_campaign_id:  # type: ignore[attr-defined]
        account, campaign = await _account_and_campaign(db, pg, lead)
    else:
        account = _account_data(account_row) if account_id is not None else AccountData()
    row = dict(zip(record_columns, values[n + 10 :], strict=True))
    if row["id"] is None or row["id"] != lead.last_evaluation_id:
        record = await _record_ref(db, pg, lead.last_evaluation_id)
        return LeadRead(lead, account, campaign, record)
    record = (row["id"], row["lead_id"], row["rulebook_version"])
    current = lead.erased_at is None
    return LeadRead(lead, account, campaign, record, row if current else None)


async def _account_and_campaign(
    db: BaseDBAsyncClient, pg: bool, lead: Lead
) -> tuple[AccountData, str | None]:
    account_id, campaign_id = lead.account_id, lead.first_campaign_id  # type: ignore[attr-defined]
    if account_id is None and campaign_id is None:
        return AccountData(), None
    _, rows = await db.execute_query(_sql(_ACCOUNT, pg), [account_id, campaign_id])
    *account_row, campaign = rows[0]
    return (_account_data(account_row) if account_id is not None else AccountData()), campaign


def _account_data(row: Sequence[Any]) -> AccountData:
    domain, name, industry, employees, revenue, country, segment = row
    return AccountData(
        domain=domain,
        name=name,
        industry=industry,
        employee_count=employees,
        annual_revenue=None if revenue is None else float(Decimal(revenue)),
        country=country,
        segment=segment,
    )


async def record_ref(record_id: int | None) -> tuple[int, int, str] | None:
    """The id, lead and rulebook version of an evaluation record (None: no such row)."""
    db = Lead._choose_db(for_write=True)
    return await _record_ref(db, db.capabilities.dialect == "postgres", record_id)


async def _record_ref(
    db: BaseDBAsyncClient, pg: bool, record_id: int | None
) -> tuple[int, int, str] | None:
    if record_id is None:
        return None
    sql = _sql("SELECT id, lead_id, rulebook_version FROM evaluation WHERE id = $1", pg)
    _, rows = await db.execute_query(sql, [record_id])
    return (rows[0][0], rows[0][1], rows[0][2]) if rows else None


async def build_input(
    *,
    lead: Lead,
    now: datetime,
    lookback_days: float,
    reps: bool = True,
    known: LeadRead | None = None,
) -> EvaluationInput:
    """The complete snapshot one evaluation needs, stored with it so it can be replayed.

    The same input as :func:`build_inputs` gives for one lead (test ``tests/api/
    test_facts.py``), read in fixed raw statements (account with campaign unless ``known``;
    activities with adjustments) into the engine's models: evaluateLead is the busiest
    mutation, and building ORM queries and models cost more than the database. Activity
    properties are left out: no rule reads them and no record keeps them. ``reps`` False
    leaves the reps out (see
    :func:`build_inputs`). ``known``: the lead's account and campaign, read with it
    (:func:`read_lead`); else read here. Activities and adjustments come in one statement."""
    db = Lead._choose_db(for_write=True)  # the transaction's connection, inside one
    pg = db.capabilities.dialect == "postgres"
    if known is not None and known.lead is lead:
        account, campaign = known.account, known.campaign
    else:
        account, campaign = await _account_and_campaign(db, pg, lead)
    scopes = set()
    if account.segment:
        scopes.add(("segment", account.segment))
    if campaign is not None:
        scopes.add(("campaign", campaign))
    since = now - timedelta(days=lookback_days)
    sql = _sql(_ACTIVITIES_AND_ADJUSTMENTS, pg)
    _, rows = await db.execute_query(sql, [lead.id, since, now, now, now])
    activities = []
    adjustments = []
    for adjustment, name, at, delta, kind, value, rule, _order, _id in rows:
        if not adjustment:  # rows the ORM wrote: the worker parsing the input validates them
            activities.append(_activity(name, _at(at)))
        elif (kind, value) in scopes:
            adjustments.append(
                AdjustmentData(
                    score=name, delta=delta, scope=kind, scope_value=value, expires_at=_at(at),
                    rule=rule,
                )
            )  # fmt: skip
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
_ACTIVITIES_AND_ADJUSTMENTS = (  # activities by time then id, then adjustments by id
    "SELECT 0 AS k, type, occurred_at, NULL, NULL, NULL, NULL, occurred_at AS t, id "
    "FROM activity WHERE lead_id = $1 AND occurred_at >= $2 AND occurred_at <= $3 "
    "UNION ALL SELECT 1, score, expires_at, delta, scope_kind, scope_value, rule, NULL, id "
    "FROM targeting_adjustment WHERE expires_at > $4 AND starts_at <= $5 AND revoked_at IS NULL "
    "ORDER BY k, t, id"
)


@functools.cache
def _sql(text: str, pg: bool) -> str:
    """PostgreSQL's ``$n`` placeholders, or SQLite's ``?`` (parameters are in order)."""
    return text if pg else re.sub(r"\$\d+", "?", text)


def _at(value: Any) -> datetime:
    """asyncpg gives aware datetimes; SQLite the ISO text tortoise wrote."""
    at: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _activity(kind: str, at: datetime) -> ActivityData:
    """An activity as ``model_construct(type=…, occurred_at=…)`` builds it, with its (empty)
    properties given: pydantic computes a missing default through ``inspect.signature`` of the
    factory, 34 µs an activity against 8 µs, a tenth of evaluateLead's server CPU."""
    return ActivityData.model_construct(
        {"type", "occurred_at"}, type=kind, occurred_at=at, properties={}
    )


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
