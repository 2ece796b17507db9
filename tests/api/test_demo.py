"""The demo seed: counts that match the database, determinism, if-empty, a plausible funnel,
bulk writes, and the CLI end to end."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import tortoise.context
from starlette.applications import Starlette
from tortoise import Tortoise
from tortoise.models import Model
from typer.testing import CliRunner

from api import cli
from api.demo import SeedSummary, seed_demo
from api.demo.draft import HISTORY_DAYS
from api.enums import DealStage, FeedbackKind, HandoffStatus, LifecycleStage
from api.errors import Conflict, InvalidInput
from api.lifecycle import check_transition
from api.models import (
    Account,
    Activity,
    Campaign,
    Deal,
    DealStageChange,
    Feedback,
    Goal,
    Handoff,
    Lead,
    LeadStageChange,
    SalesRep,
)
from api.settings import get_settings
from tests.conftest import ADMIN_URL, ON_POSTGRES, TABLES, GraphQLClient, SqlCounter

ANCHOR = date(2026, 11, 27)
END = datetime.combine(ANCHOR, time(), tzinfo=UTC)
MODELS: dict[str, type[Model]] = {
    "campaigns": Campaign,
    "sales_reps": SalesRep,
    "accounts": Account,
    "leads": Lead,
    "activities": Activity,
    "lead_stage_changes": LeadStageChange,
    "handoffs": Handoff,
    "deals": Deal,
    "deal_stage_changes": DealStageChange,
    "feedback": Feedback,
    "goals": Goal,
}


async def _empty() -> None:
    """The same cleanup the autouse fixture does, for tests that seed twice."""
    conn = Tortoise.get_connection("default")
    if ON_POSTGRES:
        await conn.execute_script(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
    else:
        await conn.execute_script("".join(f"DELETE FROM {t};" for t in TABLES))


async def _digest() -> str:
    """A fingerprint of the seeded rows that leaves out database ids."""
    queries = (
        Lead.all().values_list(
            "email", "stage", "created_at", "updated_at", "fit_score", "engagement_score",
            "mql_at", "version", "account__domain", "owner__email", "first_campaign__key",
            "last_campaign__key",
        ),
        Account.all().values_list(
            "domain", "segment", "employee_count", "annual_revenue", "customer_since",
            "churned_at", "created_at", "updated_at",
        ),
        Activity.all().values_list(
            "external_id", "type", "occurred_at", "lead__email", "campaign__key", "properties"
        ),
        LeadStageChange.all().values_list(
            "lead__email", "from_stage", "to_stage", "reason", "actor", "changed_at"
        ),
        Handoff.all().values_list(
            "lead__email", "owner__email", "status", "priority", "sla_deadline", "reason_code",
            "decided_at", "breached_at",
        ),
        Deal.all().values_list(
            "lead__email", "account__domain", "stage", "amount", "closed_at", "close_reason",
            "updated_at",
        ),
        DealStageChange.all().values_list("deal__lead__email", "to_stage", "changed_at"),
        Feedback.all().values_list("kind", "reason_code", "lead__email", "created_at"),
        Campaign.all().values_list("key", "cost", "starts_on"),
        SalesRep.all().values_list("email", "active", "last_assigned_at"),
        Goal.all().values_list("metric", "team", "period_start", "target"),
    )  # fmt: skip
    digest = hashlib.sha256()
    for query in queries:
        for line in sorted(repr(row) for row in await query):
            digest.update(line.encode())
    return digest.hexdigest()


async def test_summary_counts_match_the_database(app: Starlette) -> None:
    summary = await seed_demo(leads=300, anchor=ANCHOR)

    for name, model in MODELS.items():
        assert await model.all().count() == getattr(summary, name), name
    assert summary.leads == 300
    assert summary.campaigns == 12
    assert summary.sales_reps == 12
    assert summary.accounts == 90
    assert summary.goals >= 4
    assert 6 <= summary.activities / summary.leads <= 11
    assert summary.handoffs > summary.deals > 0
    assert summary.skipped is False


async def test_same_arguments_give_the_same_data(app: Starlette) -> None:
    await seed_demo(seed=11, leads=250, anchor=ANCHOR)
    first = await _digest()
    await _empty()
    await seed_demo(seed=11, leads=250, anchor=ANCHOR)
    assert await _digest() == first

    await _empty()
    await seed_demo(seed=12, leads=250, anchor=ANCHOR)
    assert await _digest() != first


async def test_created_at_is_historical_not_the_wall_clock(app: Starlette) -> None:
    anchor = date(2025, 3, 10)
    end = datetime.combine(anchor, time(), tzinfo=UTC)
    await seed_demo(leads=200, anchor=anchor)

    for model, column in (
        (Lead, "created_at"), (Lead, "updated_at"), (Account, "updated_at"),
        (Activity, "created_at"), (LeadStageChange, "changed_at"), (Handoff, "created_at"),
        (Deal, "created_at"), (Deal, "updated_at"), (DealStageChange, "changed_at"),
        (Feedback, "created_at"), (Goal, "updated_at"), (Campaign, "created_at"),
    ):  # fmt: skip
        values = [value for (value,) in await model.all().values_list(column)]
        assert max(values) < end, (model.__name__, column)
    created = [value for (value,) in await Lead.all().values_list("created_at")]
    assert min(created) >= end - timedelta(days=HISTORY_DAYS)
    for created, updated in await Lead.all().values_list("created_at", "updated_at"):
        assert created <= updated


async def test_if_empty_skips_when_leads_exist(app: Starlette) -> None:
    first = await seed_demo(leads=40, anchor=ANCHOR, if_empty=True)
    assert first.skipped is False
    assert first.leads == 40

    again = await seed_demo(leads=40, anchor=ANCHOR, if_empty=True)
    assert again == SeedSummary(skipped=True)
    assert await Lead.all().count() == 40

    with pytest.raises(Conflict, match="already"):
        await seed_demo(leads=40, anchor=ANCHOR)
    assert await Lead.all().count() == 40  # the failed run rolled back


@pytest.mark.parametrize("leads", [0, -5, 10_000_000])
async def test_size_is_checked_before_touching_the_database(leads: int) -> None:
    with pytest.raises(InvalidInput, match="leads must be between"):
        await seed_demo(leads=leads)


async def test_funnel_is_plausible(app: Starlette) -> None:
    await seed_demo(leads=600, anchor=ANCHOR)

    reached = Counter(str(s) for (s,) in await LeadStageChange.all().values_list("to_stage"))
    funnel = [reached[s] for s in ("engaged", "mql", "sal", "sql", "opportunity", "customer")]
    assert funnel == sorted(funnel, reverse=True)
    assert funnel[-1] > 0
    assert await Lead.filter(stage__in=["new", "engaged"]).count() > 600 / 2
    assert await Lead.filter(stage="recycled").exists()
    assert await Lead.filter(stage="disqualified").exists()

    # Every lead's history replays through the lifecycle rules to its current stage.
    # Each change entered its from_stage at the change before (or the lead's creation), and
    # the lead entered its stage at its last change.
    rows = await Lead.all().values_list("id", "stage", "created_at", "stage_entered_at")
    leads = {i: (stage, created, entered) for i, stage, created, entered in rows}
    history: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for lead_id, *change in (
        await LeadStageChange.all()
        .order_by("changed_at", "id")
        .values_list("lead_id", "from_stage", "to_stage", "reason", "entered_from_at", "changed_at")
    ):
        history[lead_id].append(tuple(change))
    for lead_id, (stage, created, entered) in leads.items():
        current, since = LifecycleStage.NEW, created
        for from_stage, to_stage, reason, entered_from_at, changed_at in history[lead_id]:
            assert from_stage == current
            assert entered_from_at == since
            check_transition(current, to_stage, reason=reason)
            current, since = to_stage, changed_at
        assert current == stage
        assert entered == (since if history[lead_id] else None)

    for lead_id, occurred_at in await Activity.all().values_list("lead_id", "occurred_at"):
        assert leads[lead_id][1] <= occurred_at < END

    mql_leads = {i for (i,) in await LeadStageChange.filter(to_stage="mql").values_list("lead_id")}
    handoffs = await Handoff.all()
    assert {h.lead_id for h in handoffs} == mql_leads  # type: ignore[attr-defined]
    statuses = {h.status for h in handoffs}
    assert {HandoffStatus.ACCEPTED, HandoffStatus.REJECTED, HandoffStatus.EXPIRED} <= statuses
    for h in handoffs:
        if h.status == HandoffStatus.EXPIRED:
            assert h.breached_at == h.sla_deadline < END
        elif h.status == HandoffStatus.PENDING:
            assert h.decided_at is None
            assert h.sla_deadline >= END
        else:
            assert h.decided_at is not None
            assert h.decided_at <= h.sla_deadline
        if h.status == HandoffStatus.REJECTED:
            assert h.reason_code in {
                "too_small", "wrong_persona", "no_budget", "bad_timing", "duplicate", "competitor"
            }  # fmt: skip
    rejected = await Feedback.filter(kind=FeedbackKind.REJECTED).count()
    assert rejected == sum(h.status == HandoffStatus.REJECTED for h in handoffs)

    deals = await Deal.all()
    assert len(deals) == reached["opportunity"]
    changed: dict[int, list[tuple[DealStage | None, DealStage]]] = defaultdict(list)
    for deal_id, from_stage, to_stage in (
        await DealStageChange.all()
        .order_by("changed_at", "id")
        .values_list("deal_id", "from_stage", "to_stage")
    ):
        changed[deal_id].append((from_stage, to_stage))
    for deal in deals:
        assert changed[deal.id][0] == (None, DealStage.DISCOVERY)
        assert changed[deal.id][-1][1] == deal.stage
        closed = deal.stage in (DealStage.CLOSED_WON, DealStage.CLOSED_LOST)
        assert (deal.closed_at is not None) == closed == (deal.close_reason is not None)
    won = [d for d in deals if d.stage == DealStage.CLOSED_WON]
    assert won
    assert await Feedback.filter(kind=FeedbackKind.WON).count() == len(won)
    since = dict(await Account.all().values_list("id", "customer_since"))
    for deal in won:
        customer_since = since[deal.account_id]  # type: ignore[attr-defined]
        assert customer_since is not None
        assert deal.closed_at is not None
        assert customer_since <= deal.closed_at

    # Scores follow the funnel: qualified leads fit better and were more engaged.
    fit_all = _mean(await Lead.all().values_list("fit_score"))
    in_sales = ["sal", "sql", "opportunity", "customer"]
    fit_sales = _mean(await Lead.filter(stage__in=in_sales).values_list("fit_score"))
    assert fit_sales > fit_all
    assert all(0 <= s <= 100 for (s,) in await Lead.all().values_list("engagement_score"))


def _mean(rows: list[tuple[Any, ...]]) -> float:
    return sum(float(value) for (value,) in rows) / len(rows)


class _StatementCounter(logging.Handler):
    """Counts statements from tortoise's debug log without formatting their (large) values."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args
        sql = str(args[0]) if isinstance(args, tuple) and args else str(record.msg)
        if sql.lstrip().upper().startswith(("SELECT", "INSERT", "UPDATE", "DELETE")) and not any(
            table in sql for table in SqlCounter.BACKGROUND
        ):
            self.count += 1


@pytest.fixture
def statements() -> Iterator[_StatementCounter]:
    counter = _StatementCounter()
    logger = logging.getLogger("tortoise.db_client")
    level, propagate = logger.level, logger.propagate
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    logger.addHandler(counter)
    try:
        yield counter
    finally:
        logger.removeHandler(counter)
        logger.setLevel(level)
        logger.propagate = propagate


async def test_writes_in_bulk(app: Starlette, statements: _StatementCounter) -> None:
    small = await seed_demo(leads=150, anchor=ANCHOR)
    for_small = statements.count
    await _empty()
    statements.count = 0
    large = await seed_demo(leads=300, anchor=ANCHOR)

    assert statements.count == for_small
    assert for_small < 50
    assert sum(large.as_dict().values()) > 2 * sum(small.as_dict().values()) > 10 * for_small


def _admin(sql: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(ADMIN_URL.replace("postgres://", "postgresql://", 1))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


@pytest.fixture
def fresh_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The CLI as a new process sees it: its own empty database and no app's tortoise context.

    The session's app leaves its context current (pytest-asyncio carries context variables
    over) and as the global fallback; without hiding both, the CLI's ``Tortoise.init`` and
    ``close_connections`` would act on the app's connection, created on another event loop.
    The database is a SQLite file, or a new PostgreSQL database on PostgreSQL runs: tortoise
    keeps each model's SQL dialect on the class, so initialising SQLite in a PostgreSQL run
    would break the tests that follow.
    """
    name = f"leadgate_cli_{uuid.uuid4().hex[:12]}"
    if ON_POSTGRES:
        _admin(f'CREATE DATABASE "{name}"')
        url = f"{ADMIN_URL.rpartition('/')[0]}/{name}"
    else:
        url = f"sqlite://{tmp_path / 'demo.sqlite3'}"
    monkeypatch.setenv("LEADGATE_DATABASE_URL", url)
    monkeypatch.setattr(tortoise.context, "_global_context", None)
    token = tortoise.context._current_context.set(None)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()
    tortoise.context._current_context.reset(token)
    if ON_POSTGRES:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.usefixtures("fresh_process")
def test_cli_migrates_then_seeds_once() -> None:
    runner = CliRunner()
    migrated = runner.invoke(cli.app, ["db", "migrate"])
    assert migrated.exit_code == 0, migrated.output

    seeded = runner.invoke(cli.app, ["demo", "seed", "--leads", "200", "--anchor", "2026-11-27"])
    assert seeded.exit_code == 0, seeded.output
    assert re.search(r"^\s+leads\s+200$", seeded.output, re.MULTILINE)
    assert re.search(r"^\s+activities\s+\d{4}$", seeded.output, re.MULTILINE)

    skipped = runner.invoke(cli.app, ["demo", "seed", "--if-empty"])
    assert skipped.exit_code == 0, skipped.output
    assert "skipped" in skipped.output

    refused = runner.invoke(cli.app, ["demo", "seed", "--leads", "10"])
    assert refused.exit_code == 1
    assert "already" in refused.output + refused.stderr

    bad = runner.invoke(cli.app, ["demo", "seed", "--anchor", "27/11/2026"])
    assert bad.exit_code == 2


DEMO_CHECKS = """
query($q: Date!, $from: Date!, $to: Date!) {
  goals(from: $q, to: $q) { goals { metric actual progress } userErrors { message } }
  metrics(names: ["new_customers", "cac"], groupBy: CAMPAIGN, period: MONTH, from: $from,
          to: $to) {
    series { metric group points { value } } userErrors { message }
  }
  funnel(from: $from, to: $to) { cohorts { stages { stage count } } userErrors { message } }
}"""


async def test_demo_shows_goals_a_meaningful_cac_and_no_unreachable_stage(
    gql: GraphQLClient,
) -> None:
    """#11 items 13 and 14, and the funnel of item 11, on what `make run` serves."""
    summary = await seed_demo(leads=600, anchor=ANCHOR)
    start = ANCHOR - timedelta(days=HISTORY_DAYS)
    body = await gql(DEMO_CHECKS, q="2026-10-01", **{"from": str(start), "to": str(ANCHOR)})
    data = body["data"]
    assert data["goals"]["userErrors"] == []
    goals = data["goals"]["goals"]
    assert len(goals) == summary.goals >= 5
    assert all(g["actual"] is not None for g in goals)

    series = {(s["metric"], s["group"]): [p["value"] for p in s["points"]]
              for s in data["metrics"]["series"]}  # fmt: skip
    costs = dict(await Campaign.all().values_list("key", "cost"))
    meaningful = 0
    for (metric, campaign), customers in series.items():
        if metric != "new_customers" or campaign == "(none)" or not any(customers):
            continue
        cac = series[("cac", campaign)]
        # From its first customer on, a campaign's CAC is its spend so far per customer
        # (0 for the organic one that costs nothing); before it, there is nothing to divide.
        first = next(i for i, n in enumerate(customers) if n)
        assert cac[:first] == [None] * first, (campaign, cac)
        if costs[campaign] == 0:
            assert set(cac[first:]) == {0.0}
            continue
        assert all(v is not None and v > 0 for v in cac[first:]), (campaign, customers, cac)
        meaningful += 1
    assert meaningful >= 3

    entered: Counter[str] = Counter()
    for cohort in data["funnel"]["cohorts"]:
        for stage in cohort["stages"]:
            entered[stage["stage"]] += stage["count"]
    assert all(n > 0 for n in entered.values()), entered  # every stage is really entered
