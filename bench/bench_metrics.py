"""Benchmark: the funnel and KPI queries of api.metrics over 1M leads and 100k deals.

Creates a dedicated PostgreSQL database, applies the migrations, loads generated data with
COPY, then times each metric through the real code path (``api.metrics``) several times and
reports the first (cold: fresh connection, no cached plans) and the median of the rest (warm).

    .venv/bin/python bench/bench_metrics.py            # full size, results for docs
    .venv/bin/python bench/bench_metrics.py --smoke    # ~10k leads in seconds, for CI

LEADGATE_TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test) names the server;
the benchmark database ``leadgate_bench_metrics`` is dropped at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
from tortoise import Tortoise

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.db import tortoise_config
from api.enums import PeriodKind
from api.metrics import compute_metrics, funnel
from api.migrate import migrate_database
from bench.integration_setup import create_migrated

DB_NAME = "leadgate_bench_metrics"
TARGET_MS = 250.0
START = datetime(2025, 1, 1, tzinfo=UTC)
DAYS = 730  # two years of leads
FUNNEL = ("new", "engaged", "mql", "sal", "sql", "opportunity", "customer")
# Furthest stage reached (cumulative shares): 45 % stay new … 4 % become customers.
REACH = ((0.45, 0), (0.70, 1), (0.78, 2), (0.83, 3), (0.90, 4), (0.96, 5), (1.0, 6))
SOURCES = ("webinar", "paid_search", "organic", "referral", "event", "content", None)
SEGMENTS = ("enterprise", "mid_market", "smb")
REJECT = ("too_small", "wrong_persona", "no_budget", "bad_timing", "no_response")
LOST = ("no_budget", "competitor", "bad_timing", "price")
KPIS = (
    "new_leads", "reach_leads", "engaged_share", "lead_to_mql", "handoffs",
    "handoff_acceptance_rate", "rejection_rate_by_reason", "sla_compliance",
    "time_to_first_touch_hours", "sql_to_opportunity", "win_rate", "sales_cycle_days",
    "pipeline_value", "revenue_won", "average_deal_size", "new_customers", "cac", "retention",
    "velocity_days",
)  # fmt: skip


@dataclass
class Data:
    campaigns: list[tuple[Any, ...]]
    reps: list[tuple[Any, ...]]
    accounts: list[tuple[Any, ...]]
    leads: list[tuple[Any, ...]]
    changes: list[tuple[Any, ...]]
    handoffs: list[tuple[Any, ...]]
    deals: list[tuple[Any, ...]]
    activities: list[tuple[Any, ...]]


def generate(n_leads: int, seed: int = 42) -> Data:
    """Leads spread over two years, each walking the funnel to a random furthest stage."""
    rng = random.Random(seed)
    n_accounts = max(n_leads // 10, 10)
    n_campaigns, n_reps = 50, 50
    now = START
    campaigns = [
        (i, f"campaign-{i}", f"Campaign {i}", rng.choice(("paid", "webinar", "event")),
         (START + timedelta(days=rng.randrange(DAYS))).date(), None,
         Decimal(rng.randrange(1_000, 50_000)), "USD", now)
        for i in range(1, n_campaigns + 1)
    ]  # fmt: skip
    reps = [
        (i, f"rep{i}@bench.test", f"Rep {i}", "NA", "[]", 50, True, None, now)
        for i in range(1, n_reps + 1)
    ]
    segment = {i: rng.choice(SEGMENTS) for i in range(1, n_accounts + 1)}
    won_at: dict[int, datetime] = {}
    leads: list[tuple[Any, ...]] = []
    changes: list[tuple[Any, ...]] = []
    handoffs: list[tuple[Any, ...]] = []
    deals: list[tuple[Any, ...]] = []
    activities: list[tuple[Any, ...]] = []
    change_id = handoff_id = deal_id = activity_id = 0
    hour = timedelta(hours=1)
    # Leads arrive over time, so ids (and the table's physical order) follow created_at.
    arrivals = sorted(rng.randrange(DAYS * 86_400) for _ in range(n_leads))
    for i, second in enumerate(arrivals, start=1):
        created = START + timedelta(seconds=second)
        account = rng.randrange(1, n_accounts + 1)
        draw = rng.random()
        reach = next(rank for share, rank in REACH if draw <= share)
        owner = rng.randrange(1, n_reps + 1) if reach >= 2 else None
        at = created
        stage = "new"
        moments: dict[int, datetime] = {}
        entered: datetime | None = None  # when the current stage was entered (None: created)
        for rank in range(1, reach + 1):
            since, at = at, at + timedelta(hours=rng.randrange(6, 24 * 20))
            change_id += 1
            changes.append(
                (change_id, stage, FUNNEL[rank], True, None, "bench", at, None, i, since)
            )
            stage, entered = FUNNEL[rank], at
            moments[rank] = at
        if reach == 2 and rng.random() < 0.5:  # rejected MQLs go back to nurture
            since, at = at, at + timedelta(hours=rng.randrange(1, 72))
            change_id += 1
            changes.append(
                (change_id, stage, "recycled", True, "too_small", "bench", at, None, i, since)
            )
            stage, entered = "recycled", at
        if reach >= 2:
            handoff_id += 1
            start = moments[2]
            deadline = start + 24 * hour
            if reach >= 3:
                status, decided, reason = "accepted", moments[3], None
            elif stage == "recycled":
                status, decided, reason = "rejected", at, rng.choice(REJECT)
            else:
                status, decided, reason = "expired", None, None
            handoffs.append((
                handoff_id, status, "normal", deadline, reason, None, decided,
                deadline if status == "expired" else None, start, None, i, owner,
            ))  # fmt: skip
        if reach >= 5:
            deal_id += 1
            opened = moments[5]
            amount = Decimal(rng.randrange(1_000_00, 100_000_00)) / 100
            if reach == 6:
                deal_stage, closed, why = "closed_won", moments[6], None
                won_at[account] = min(won_at.get(account, closed), closed)
            elif rng.random() < 0.5:
                deal_stage = "closed_lost"
                closed, why = opened + timedelta(days=rng.randrange(5, 90)), rng.choice(LOST)
            else:
                deal_stage, closed, why = rng.choice(("discovery", "demo", "proposal")), None, None
            deals.append((
                deal_id, f"deal {deal_id}", deal_stage, amount, "USD", None, closed, why,
                opened, closed or opened, 1, account, i, owner,
            ))  # fmt: skip
        for _ in range(rng.randrange(1, 5) if reach >= 1 else 0):
            activity_id += 1
            occurred = created + timedelta(hours=rng.randrange(1, 24 * 30))
            activities.append((
                activity_id, "page_view", occurred, "web", None, "{}", occurred,
                rng.randrange(1, n_campaigns + 1), i,
            ))  # fmt: skip
        leads.append((
            i, f"lead{i}@bench.test", rng.choice(SOURCES), stage, 0.0, 0.0, "{}", "{}",
            moments.get(2), created, at, 1, account,
            rng.randrange(1, n_campaigns + 1) if rng.random() < 0.8 else None, owner, entered,
        ))  # fmt: skip
    accounts = []
    for a in range(1, n_accounts + 1):
        since = won_at.get(a)
        churned = (
            since + timedelta(days=rng.randrange(30, 300)) if since and rng.random() < 0.1 else None
        )
        accounts.append((a, f"acct{a}.test", segment[a], since, churned, now, now))
    return Data(
        campaigns,
        reps,
        accounts,
        leads,
        _in_time_order(changes, 6),
        _in_time_order(handoffs, 8),
        _in_time_order(deals, 8),
        _in_time_order(activities, 2),
    )


def _in_time_order(rows: list[tuple[Any, ...]], at: int) -> list[tuple[Any, ...]]:
    """Rows are written when they happen: ids follow the time column ``at``."""
    rows.sort(key=lambda r: r[at])
    return [(i, *r[1:]) for i, r in enumerate(rows, start=1)]


COLUMNS = {
    "campaign": ("id", "key", "name", "channel", "starts_on", "ends_on", "cost", "currency",
                 "created_at"),
    "sales_rep": ("id", "email", "name", "territory", "segments", "capacity", "active",
                  "last_assigned_at", "created_at"),
    "account": ("id", "domain", "segment", "customer_since", "churned_at", "created_at",
                "updated_at"),
    "lead": ("id", "email", "source", "stage", "fit_score", "engagement_score", "scores",
             "properties", "mql_at", "created_at", "updated_at", "version", "account_id",
             "first_campaign_id", "owner_id", "stage_entered_at"),
    "lead_stage_change": ("id", "from_stage", "to_stage", "applied", "reason", "actor",
                          "changed_at", "evaluation_id", "lead_id", "entered_from_at"),
    "handoff": ("id", "status", "priority", "sla_deadline", "reason_code", "note", "decided_at",
                "breached_at", "created_at", "evaluation_id", "lead_id", "owner_id"),
    "deal": ("id", "name", "stage", "amount", "currency", "expected_close_on", "closed_at",
             "close_reason", "created_at", "updated_at", "version", "account_id", "lead_id",
             "owner_id"),
    "activity": ("id", "type", "occurred_at", "source", "external_id", "properties",
                 "created_at", "campaign_id", "lead_id"),
}  # fmt: skip


def _dsn(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1)


async def load(url: str, data: Data) -> dict[str, int]:
    """COPY every table, then move the id sequences past the loaded ids and analyse."""
    conn = await asyncpg.connect(_dsn(url))
    counts = {}
    try:
        # Generated rows are consistent: skip the per-row foreign-key triggers while loading.
        await conn.execute("SET session_replication_role = replica")
        for table, rows in (
            ("campaign", data.campaigns), ("sales_rep", data.reps), ("account", data.accounts),
            ("lead", data.leads), ("lead_stage_change", data.changes),
            ("handoff", data.handoffs), ("deal", data.deals), ("activity", data.activities),
        ):  # fmt: skip
            await conn.copy_records_to_table(table, records=rows, columns=COLUMNS[table])
            await conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"GREATEST((SELECT MAX(id) FROM {table}), 1))"
            )
            counts[table] = len(rows)
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()
    return counts


@dataclass
class Timing:
    name: str
    cold_ms: float
    warm_ms: float


async def time_queries(url: str, runs: int, months: int) -> list[Timing]:
    """Each KPI over ``months`` months by month, then the cohort funnel over the same range."""
    end = date(2026, 12, 31)
    first = date(2027 - (months - 1) // 12 - 1, 12 - (months - 1) % 12, 1)
    timings = []
    await Tortoise.init(config=tortoise_config(url))
    try:
        jobs: list[tuple[str, Any]] = [
            (name, lambda n=name: compute_metrics(
                names=[n], period=PeriodKind.MONTH, start=first, end=end,
                sales_cost_per_month=Decimal(50_000)))
            for name in KPIS
        ]  # fmt: skip
        jobs.append(("funnel", lambda: funnel(start=first, end=end, period=PeriodKind.MONTH)))
        jobs.append((
            "new_leads by campaign",
            lambda: compute_metrics(names=["new_leads"], period=PeriodKind.MONTH, start=first,
                                    end=end, group_by=_group("campaign")),
        ))  # fmt: skip
        jobs.append((
            "revenue_won by owner",
            lambda: compute_metrics(names=["revenue_won"], period=PeriodKind.MONTH,
                                    start=first, end=end, group_by=_group("owner")),
        ))  # fmt: skip
        for name, job in jobs:
            samples = []
            for _ in range(runs):
                began = time.perf_counter()
                result = await job()
                samples.append((time.perf_counter() - began) * 1000)
                assert result, f"{name} returned nothing"
            timings.append(Timing(name, samples[0], statistics.median(samples[1:] or samples)))
    finally:
        await Tortoise.close_connections()
    return timings


def _group(name: str) -> Any:
    from api.metrics import GroupBy

    return GroupBy(name)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="~10k leads, for CI")
    parser.add_argument("--leads", type=int, default=None, help="override the lead count")
    parser.add_argument("--runs", type=int, default=7, help="runs per query (first is cold)")
    parser.add_argument(
        "--months", type=int, default=3, help="range measured, by month (default: a quarter)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    parser.add_argument(
        "--reuse", action="store_true", help="time the database a --keep run left (no load)"
    )
    args = parser.parse_args()
    n_leads = args.leads or (10_000 if args.smoke else 1_000_000)
    base = os.environ.get("LEADGATE_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
    server, _, _ = base.rpartition("/")
    # A run that neither keeps nor reuses the database gets its own: parallel runs (CI jobs)
    # would otherwise drop each other's.
    db_name = DB_NAME if args.keep or args.reuse else f"{DB_NAME}_{os.getpid()}"
    url = f"{server}/{db_name}"
    admin = await asyncpg.connect(_dsn(base))
    try:
        if not args.reuse:
            await admin.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
            await create_migrated(admin, db_name)
        version = await admin.fetchval("SHOW server_version")
    finally:
        await admin.close()
    generated = loaded = 0.0
    counts: dict[str, int] = {}
    try:
        if args.reuse:  # a database a --keep run left, brought up to date
            await migrate_database(url)
        else:
            began = time.perf_counter()
            data = generate(n_leads)
            generated = time.perf_counter() - began
            began = time.perf_counter()
            counts = await load(url, data)
            loaded = time.perf_counter() - began
            del data
        timings = await time_queries(url, runs=3 if args.smoke else args.runs, months=args.months)
    finally:
        if not args.keep:
            admin = await asyncpg.connect(_dsn(base))
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
            finally:
                await admin.close()
    slow = [t for t in timings if t.warm_ms > TARGET_MS]
    if args.json:
        print(json.dumps({
            "postgres": version, "rows": counts, "generate_s": generated, "load_s": loaded,
            "timings": [t.__dict__ for t in timings],
        }, indent=2))  # fmt: skip
    else:
        print(f"PostgreSQL {version}; rows: {counts}")
        print(f"generated in {generated:.1f} s, COPY + VACUUM ANALYZE in {loaded:.1f} s")
        print(f"{'query':32} {'cold ms':>9} {'warm ms':>9}")
        for t in timings:
            flag = "" if t.warm_ms <= TARGET_MS else "  > target"
            print(f"{t.name:32} {t.cold_ms:9.1f} {t.warm_ms:9.1f}{flag}")
    if args.smoke:
        return 0  # CI checks that the queries run, not how fast a shared runner is
    return 1 if slow else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
