"""Lean reads for bulk evaluation: the columns an evaluation needs, as tuples, not models.

Hydrating tortoise models (``_init_from_db``, per-field conversions, pypika query building)
cost more than the database for a batch of leads and their activities. Here a batch is three
raw statements (leads, accounts, activities) whose rows go straight into the engine's input
models. The inputs equal what :func:`api.facts.build_inputs` builds from the same rows, except
activity properties, which no rule reads and no record keeps (test
``tests/api/test_bulk_read.py``); ``build_inputs`` stays the reference for the single-lead path.
The bulk job reads with :func:`read_batch_packed`: the same rows, left as values for the engine
workers to validate (no model in the parent); the simulation reads models (:func:`read_batch`).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from tortoise.backends.base.client import BaseDBAsyncClient

from api.enums import LifecycleStage
from api.models import Lead
from rules import AccountData, AdjustmentData, EvaluationInput, RepData
from rules.record import PackedInput, micros

_LEAD_COLUMNS = (
    "id, email, first_name, last_name, title, seniority, department, country, source, "
    "account_id, first_campaign_id, owner_id, stage, stage_entered_at, created_at, scores, "
    "version, decision"
)
_ACCOUNT_COLUMNS = "id, domain, name, industry, employee_count, annual_revenue, country, segment"


@dataclass(slots=True)
class LeadState:
    """What planning an outcome reads of a lead (``api.outcomes.plan_outcome``)."""

    id: int
    stage: LifecycleStage
    owner_id: int | None
    decision: str | None
    scores: dict[str, float]
    version: int
    stage_entered_at: datetime | None
    created_at: datetime


def connection() -> BaseDBAsyncClient:
    """The connection tortoise would use here (the transaction's, inside one)."""
    return Lead._choose_db(for_write=True)


def is_postgres(db: BaseDBAsyncClient) -> bool:
    return db.capabilities.dialect == "postgres"


def id_filter(db: BaseDBAsyncClient, column: str, ids: Sequence[int], first: int = 1) -> str:
    """``column = ANY($n)`` on PostgreSQL (one array parameter), ``IN (?, …)`` on SQLite."""
    if is_postgres(db):
        return f"{column} = ANY(${first}::int[])"
    return f"{column} IN ({', '.join('?' * len(ids))})"


def id_params(db: BaseDBAsyncClient, ids: Sequence[int]) -> list[Any]:
    return [list(ids)] if is_postgres(db) else list(ids)


def _time(value: Any) -> datetime | None:
    return None if value is None else _at(value)


def _at(value: Any) -> datetime:
    """asyncpg gives aware datetimes; SQLite gives the ISO text tortoise wrote."""
    at: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
    if at.tzinfo is None:
        return at.replace(tzinfo=UTC)
    return at if at.tzinfo is UTC else at.astimezone(UTC)


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


async def _read(
    lead_ids: Sequence[int], now: datetime, lookback_days: float, *, ago: bool = False
) -> tuple[list[Any], list[Any], dict[int, list[tuple[str, Any]]]]:
    """The batch's lead rows (ordered by id), account rows and activities (type and time, or
    with ``ago`` integer microseconds before ``now``; oldest first, per lead): three
    statements."""
    db = connection()
    pg = is_postgres(db)
    where = id_filter(db, "id", lead_ids)
    _, leads = await db.execute_query(
        f"SELECT {_LEAD_COLUMNS} FROM lead WHERE {where} ORDER BY id", id_params(db, lead_ids)
    )
    ids = [row[0] for row in leads]
    account_ids = sorted({row[9] for row in leads if row[9] is not None})
    accounts: Sequence[Any] = []
    if account_ids:
        where = id_filter(db, "id", account_ids)
        _, accounts = await db.execute_query(
            f"SELECT {_ACCOUNT_COLUMNS} FROM account WHERE {where}", id_params(db, account_ids)
        )
    since = now - timedelta(days=lookback_days)
    activities: dict[int, list[tuple[str, Any]]] = defaultdict(list)
    if ids:
        where = id_filter(db, "lead_id", ids, first=1)
        _, rows = await db.execute_query(
            f"SELECT lead_id, type, occurred_at FROM activity WHERE {where} "
            f"AND {_window(pg)} ORDER BY occurred_at, id",
            [*id_params(db, ids), since, now],
        )
        # Properties are left out: no rule reads them, and stored records (what "why not"
        # replays) do not keep them.
        if ago:
            now_us = micros(now)
            for lead_id, kind, occurred_at in rows:
                activities[lead_id].append((kind, now_us - micros(_at(occurred_at))))
        else:
            for lead_id, kind, occurred_at in rows:
                activities[lead_id].append((kind, _at(occurred_at)))
    return list(leads), list(accounts), activities


def _window(pg: bool) -> str:
    """The activity window of a batch read. On SQLite the unary ``+`` keeps the time terms
    off any index: once ``ANALYZE`` has run, SQLite's planner took the ``occurred_at`` index
    (it also gives the order) and scanned every activity in the window, for each batch of
    200 leads: 2.5x slower bulk runs at 20,000 leads. By lead id it reads only the batch's."""
    if pg:
        return "occurred_at >= $2 AND occurred_at <= $3"
    return "+occurred_at >= ? AND +occurred_at <= ?"


def _state(row: Any) -> LeadState:
    return LeadState(
        id=row[0],
        stage=LifecycleStage(row[12]),
        owner_id=row[11],
        decision=row[17],
        scores=_json(row[15]),
        version=row[16],
        stage_entered_at=_time(row[13]),
        created_at=_at(row[14]),
    )


T = TypeVar("T")


def _first(item: tuple[AdjustmentData, Any]) -> AdjustmentData:
    return item[0]


def _itself(adjustment: AdjustmentData) -> AdjustmentData:
    return adjustment


def _adjustments_of(
    items: list[T], segment: str | None, campaign: str | None, of: Callable[[T], AdjustmentData]
) -> list[T]:
    """The items whose adjustment (``of``) applies to a lead of that segment and campaign."""
    out = []
    for item in items:
        a = of(item)
        if (a.scope == "segment" and segment and a.scope_value == segment) or (
            a.scope == "campaign" and campaign is not None and a.scope_value == campaign
        ):
            out.append(item)
    return out


async def read_batch(
    lead_ids: Sequence[int],
    *,
    now: datetime,
    lookback_days: float,
    campaigns: dict[int, str],
    adjustments: list[AdjustmentData],
    reps: list[RepData],
) -> tuple[list[LeadState], dict[int, EvaluationInput]]:
    """The leads' state (ordered by id) and their inputs, in three statements."""
    leads, account_rows, acts = await _read(lead_ids, now, lookback_days)
    accounts = {row[0]: _account(row) for row in account_rows}
    activities = {
        lead_id: [{"type": kind, "occurred_at": at} for kind, at in items]
        for lead_id, items in acts.items()
    }
    states: list[LeadState] = []
    inputs: dict[int, EvaluationInput] = {}
    segments = {account_id: a.segment for account_id, a in accounts.items()}
    no_account = AccountData()
    for row in leads:
        lead_id, email, first, last, title, seniority, department, country, source = row[:9]
        account_id, campaign_id, stage = row[9], row[10], row[12]
        state = _state(row)
        created_at = state.created_at
        states.append(state)
        campaign = campaigns.get(campaign_id) if campaign_id is not None else None
        segment = segments.get(account_id) if account_id is not None else None
        # One validation per lead, nested models built inside pydantic-core (a Python
        # constructor per activity cost more); accounts, adjustments and reps are models
        # already and are kept as they are.
        inputs[lead_id] = EvaluationInput.model_validate(
            {
                "lead": {
                    "email": email,
                    "first_name": first,
                    "last_name": last,
                    "title": title,
                    "seniority": seniority,
                    "department": department,
                    "country": country,
                    "source": source,
                    "campaign": campaign,
                    "stage": stage,
                    "created_at": created_at,
                },
                "account": accounts.get(account_id, no_account)
                if account_id is not None
                else no_account,
                "activities": activities.get(lead_id, []),
                "adjustments": _adjustments_of(adjustments, segment, campaign, _itself),
                "reps": reps,
                "now": now,
            }
        )
    return states, inputs


def _account(row: Any) -> AccountData:
    return AccountData(**_account_values(row))


def _account_values(row: Any) -> dict[str, Any]:
    _, domain, name, industry, employees, revenue, country, segment = row
    if isinstance(revenue, Decimal | str):
        revenue = float(Decimal(revenue))
    return {
        "domain": domain,
        "name": name,
        "industry": industry,
        "employee_count": employees,
        "annual_revenue": float(revenue) if revenue is not None else None,
        "country": country,
        "segment": segment,
    }


async def read_batch_packed(
    lead_ids: Sequence[int],
    *,
    now: datetime,
    lookback_days: float,
    campaigns: dict[int, str],
    adjustments: list[AdjustmentData],
    reps: list[RepData],
) -> tuple[list[LeadState], dict[int, PackedInput]]:
    """:func:`read_batch`, each input as the values read (``rules.record.PackedInput``): no
    model is built in the parent. The engine worker validates them (a row that does not
    validate fails its lead alone) and sends the input's record text back with the decision.
    The inputs equal :func:`read_batch`'s (``tests/api/test_bulk_read.py``)."""
    leads, account_rows, acts = await _read(lead_ids, now, lookback_days, ago=True)
    accounts: dict[int, tuple[Any, ...]] = {}
    segments: dict[int, str | None] = {}
    for row in account_rows:
        values = _account_values(row)
        accounts[row[0]] = tuple(values.values())
        segments[row[0]] = values["segment"]
    adjusted = [(a, a.model_dump(mode="json")) for a in adjustments]
    states: list[LeadState] = []
    inputs: dict[int, PackedInput] = {}
    no_acts: list[tuple[str, Any]] = []
    now_us = micros(now)
    for row in leads:
        state = _state(row)
        states.append(state)
        lead_id, account_id, campaign_id = row[0], row[9], row[10]
        campaign = campaigns.get(campaign_id) if campaign_id is not None else None
        lead = (*row[1:9], campaign, row[12], micros(state.created_at))
        segment = segments.get(account_id) if account_id is not None else None
        applied = _adjustments_of(adjusted, segment, campaign, _first)
        account = accounts.get(account_id) if account_id is not None else None
        rows = (lead, account, acts.get(lead_id, no_acts), [data for _, data in applied], now_us)
        inputs[lead_id] = PackedInput(rows, reps, state.decision)
    return states, inputs


async def campaign_keys() -> dict[int, str]:
    """Campaign id → key, for every campaign (few: read once per bulk run)."""
    _, rows = await connection().execute_query('SELECT id, "key" FROM campaign')
    return {int(row[0]): str(row[1]) for row in rows}
