"""Marketing, handoff, sales and shared metrics, computed by SQL aggregates.

Every metric is one parameterised query that returns at most one row per (period, group[,
breakdown]); Python only divides the aggregates and fills empty periods. The SQL is the same
on SQLite and PostgreSQL except for a few dialect expressions (``_Dialect``): period buckets,
timestamp comparison, durations, exact money sums and the median.

Definitions (each counted in the period its anchor falls in):

- Attribution: ``campaign`` is the lead's first-touch campaign, ``source`` the lead's source,
  ``segment`` the account's segment, ``owner`` the owner of the handoff/deal (or of the lead).
- Cohort metrics (``engaged_share``, ``lead_to_mql``, ``funnel``) follow the leads *created*
  in a period: a lead reached a stage when its current stage or an applied stage change is at
  or beyond that stage in ``new → engaged → mql → sal → sql → opportunity → customer``.
- Money is summed as stored, without currency conversion.
- ``from``/``to`` are widened to whole periods, so the first and last points are complete.
"""

from __future__ import annotations

import calendar
import re
import statistics
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from tortoise import Tortoise
from tortoise.transactions import in_transaction

from api.campaigns import spending_sql
from api.enums import LifecycleStage, PeriodKind, Team
from api.errors import InvalidInput
from api.lifecycle import FUNNEL
from api.locking import on_postgres

MAX_POINTS = 750  # two years of days: beyond that a chart is unreadable anyway


class GroupBy(StrEnum):
    CAMPAIGN = "campaign"
    SOURCE = "source"
    SEGMENT = "segment"
    OWNER = "owner"


class Unit(StrEnum):
    COUNT = "count"
    RATE = "rate"
    MONEY = "money"
    DAYS = "days"
    HOURS = "hours"
    RATIO = "ratio"


NO_GROUP = "(none)"  # the group of rows without a campaign, source, segment or owner


@dataclass(frozen=True, slots=True)
class Point:
    period_start: date
    value: float | None


@dataclass(slots=True)
class Series:
    """One line of a chart: a metric for one group (and breakdown), one point per period."""

    metric: str
    group: str | None
    breakdown: str | None
    unit: Unit
    points: list[Point] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# periods


def period_start(day: date, kind: PeriodKind) -> date:
    """The first day of the period containing ``day`` (weeks start on Monday, as ISO and
    PostgreSQL's date_trunc do)."""
    if kind == PeriodKind.DAY:
        return day
    if kind == PeriodKind.WEEK:
        return day - timedelta(days=day.weekday())
    if kind == PeriodKind.MONTH:
        return day.replace(day=1)
    return date(day.year, (day.month - 1) // 3 * 3 + 1, 1)


def next_period(start: date, kind: PeriodKind) -> date:
    if kind == PeriodKind.DAY:
        return start + timedelta(days=1)
    if kind == PeriodKind.WEEK:
        return start + timedelta(days=7)
    months = 1 if kind == PeriodKind.MONTH else 3
    month = start.month - 1 + months
    return date(start.year + month // 12, month % 12 + 1, 1)


def periods(start: date, end: date, kind: PeriodKind) -> list[date]:
    """Starts of the whole periods covering ``start..end`` (both inclusive)."""
    if start > end:
        raise InvalidInput(
            f"from ({start}) is after to ({end})", field="from", suggestion="swap the dates"
        )
    out: list[date] = []
    current = period_start(start, kind)
    while current <= end:
        out.append(current)
        if len(out) > MAX_POINTS:
            raise InvalidInput(
                f"more than {MAX_POINTS} {kind} periods between {start} and {end}",
                field="period",
                suggestion="choose a longer period or a shorter range",
            )
        current = next_period(current, kind)
    return out


def utc(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def elapsed_fraction(start: date, kind: PeriodKind, now: datetime) -> float:
    """How much of the period has passed at ``now`` (0 before it, 1 after it)."""
    begin, end = utc(start), utc(next_period(start, kind))
    if now <= begin:
        return 0.0
    if now >= end:
        return 1.0
    return (now - begin) / (end - begin)


def months_in(start: date, kind: PeriodKind) -> Decimal:
    """A period's length in months, to turn the monthly sales cost into a period's cost."""
    if kind == PeriodKind.MONTH:
        return Decimal(1)
    if kind == PeriodKind.QUARTER:
        return Decimal(3)
    days = Decimal(7 if kind == PeriodKind.WEEK else 1)
    return days * 12 / (365 + calendar.isleap(start.year))


# ---------------------------------------------------------------------------------------------
# dialects


class _Dialect:
    """The few expressions SQLite and PostgreSQL spell differently. Column names and the period
    kind come from this module, never from user input: only they are formatted into SQL."""

    def __init__(self, postgres: bool) -> None:
        self.postgres = postgres

    def param(self, n: int) -> str:
        # Numbered on both: SQLite's ?NNN, like PostgreSQL's $N, does not depend on order.
        return f"${n}" if self.postgres else f"?{n}"

    def bucket(self, col: str, kind: PeriodKind, *, is_date: bool = False) -> str:
        if self.postgres:
            ts = f"{col}::timestamp" if is_date else f"({col} AT TIME ZONE 'UTC')"
            return f"date_trunc('{kind.value}', {ts})::date"
        if kind == PeriodKind.DAY:
            return f"date({col})"
        if kind == PeriodKind.WEEK:
            return f"date({col}, 'weekday 0', '-6 days')"
        if kind == PeriodKind.MONTH:
            return f"date({col}, 'start of month')"
        return (
            f"printf('%s-%02d-01', strftime('%Y', {col}), "
            f"(CAST(strftime('%m', {col}) AS INTEGER) - 1) / 3 * 3 + 1)"
        )

    def ts(self, expr: str) -> str:
        """A comparable timestamp. SQLite stores text whose format varies (fractions): compare
        julian days instead of strings."""
        return expr if self.postgres else f"julianday({expr})"

    def ts_param(self, n: int) -> str:
        return f"${n}::timestamptz" if self.postgres else f"julianday(?{n})"

    def days(self, start: str, end: str) -> str:
        if self.postgres:
            return f"(EXTRACT(EPOCH FROM ({end} - {start})) / 86400.0)"
        return f"(julianday({end}) - julianday({start}))"

    def cents(self, col: str) -> str:
        """Exact money sums: SQLite keeps decimals as text and would add them as floats."""
        if self.postgres:
            return f"ROUND(SUM({col}) * 100)"
        return f"SUM(CAST(ROUND({col} * 100) AS INTEGER))"

    def greatest(self, a: str, b: str) -> str:
        return f"GREATEST({a}, {b})" if self.postgres else f"MAX({a}, {b})"

    def day_of(self, col: str) -> str:
        return f"({col} AT TIME ZONE 'UTC')::date" if self.postgres else f"date({col})"


def dialect() -> _Dialect:
    return _Dialect(on_postgres())


async def fetch(sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
    """Run one aggregate query. The raw connection is used where the ORM cannot express it.

    On PostgreSQL, JIT compilation is switched off for the query: these aggregates run in
    tens of milliseconds, and JIT spent up to 3 s compiling them (bench/bench_metrics.py).
    """
    if not on_postgres():
        conn = Tortoise.get_connection("default")
        rows: list[dict[str, Any]] = await conn.execute_query_dict(sql, list(params))
        return rows
    async with in_transaction() as tx:
        await tx.execute_script("SET LOCAL jit = off")
        return await tx.execute_query_dict(sql, list(params))


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _num(value: Any) -> Decimal:
    if value is None:
        return Decimal(0)
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(value)


# ---------------------------------------------------------------------------------------------
# query building

_RANKS = {stage: rank for rank, stage in enumerate(FUNNEL)}


def stage_rank(d: _Dialect, col: str) -> str:
    """A stage's position in the funnel; recycled and disqualified rank below new."""
    whens = " ".join(f"WHEN '{stage.value}' THEN {rank}" for stage, rank in _RANKS.items())
    del d
    return f"(CASE {col} {whens} ELSE -1 END)"


@dataclass(frozen=True, slots=True)
class _Base:
    """A table with the joins a query may need, and the column each GroupBy uses.

    Only the joins whose alias the rest of the query mentions are written: a handoff count
    must not join a million leads just because grouping by source could need them.
    """

    core: str
    joins: tuple[tuple[str, str], ...]  # (alias, JOIN clause), later ones may use earlier ones
    groups: dict[GroupBy, str]

    def sql(self, *parts: str) -> str:
        text = " ".join(parts)
        used: list[str] = []
        for alias, clause in reversed(self.joins):
            if re.search(rf"\b{alias}\.", text):
                used.insert(0, clause)
                text += " " + clause
        return " ".join([self.core, *used])


_LEAD_GROUPS = {
    GroupBy.CAMPAIGN: "l.first_campaign_id",
    GroupBy.SOURCE: "l.source",
    GroupBy.SEGMENT: "a.segment",
    GroupBy.OWNER: "l.owner_id",
}
_ACCOUNT = ("a", "LEFT JOIN account a ON a.id = l.account_id")
LEADS = _Base("lead l", (_ACCOUNT,), _LEAD_GROUPS)
ACTIVITIES = _Base("activity x", (("l", "JOIN lead l ON l.id = x.lead_id"), _ACCOUNT), _LEAD_GROUPS)
STAGE_CHANGES = _Base(
    "lead_stage_change c", (("l", "JOIN lead l ON l.id = c.lead_id"), _ACCOUNT), _LEAD_GROUPS
)
HANDOFFS = _Base(
    "handoff h",
    (("l", "JOIN lead l ON l.id = h.lead_id"), _ACCOUNT),
    {**_LEAD_GROUPS, GroupBy.OWNER: "h.owner_id"},
)
DEALS = _Base(
    "deal d",
    (("a", "JOIN account a ON a.id = d.account_id"), ("l", "LEFT JOIN lead l ON l.id = d.lead_id")),
    {**_LEAD_GROUPS, GroupBy.OWNER: "d.owner_id"},
)


def _group_sql(base: _Base, group_by: GroupBy | None) -> tuple[str, str]:
    """The group expression and the join that turns ids into readable labels."""
    if group_by is None:
        return "NULL", ""
    col = base.groups[group_by]
    if group_by == GroupBy.CAMPAIGN:
        return "gc.key", f" LEFT JOIN campaign gc ON gc.id = {col}"
    if group_by == GroupBy.OWNER:
        return "gr.email", f" LEFT JOIN sales_rep gr ON gr.id = {col}"
    return col, ""


@dataclass(frozen=True, slots=True)
class Window:
    """The query's time range and grouping."""

    kind: PeriodKind
    starts: list[date]
    group_by: GroupBy | None
    now: datetime
    until: datetime | None = None  # goals count "so far": nothing after this instant

    @property
    def begin(self) -> datetime:
        return utc(self.starts[0])

    @property
    def end(self) -> datetime:
        return self.cap(utc(next_period(self.starts[-1], self.kind)))

    def cap(self, end: datetime) -> datetime:
        return min(end, self.until) if self.until is not None else end


Row = tuple[date, str | None, str | None, Decimal, Decimal | None]  # period, group, breakdown, n, d


async def _aggregate(
    w: Window,
    base: _Base,
    anchor: str,
    select: Callable[[_Dialect], str],
    *,
    where: str = "",
    breakdown: str | None = None,
    extra_params: Sequence[Any] = (),
) -> list[Row]:
    """``SELECT bucket, group[, breakdown], <n>[, <d>] FROM base WHERE anchor in range GROUP BY``.

    ``select`` returns the aggregate columns named ``n`` (and ``d`` for ratios); its own
    parameters (``extra_params``) are numbered from 3 on, after the range's two.
    """
    d = dialect()
    group, join = _group_sql(base, w.group_by)
    bucket = d.bucket(anchor, w.kind)
    brk = breakdown or "NULL"
    head = f"SELECT {bucket} AS p, {group} AS g, {brk} AS b, {select(d)}"
    tail = (
        f"WHERE {d.ts(anchor)} >= {d.ts_param(1)} AND {d.ts(anchor)} < {d.ts_param(2)}"
        f"{' AND ' + where if where else ''} GROUP BY 1, 2, 3"
    )
    sql = f"{head} FROM {base.sql(head, join, tail)}{join} {tail}"
    rows = await fetch(sql, [w.begin, w.end, *extra_params])
    return [
        (_as_date(r["p"]), r["g"], r["b"], _num(r["n"]), _num(r["d"]) if "d" in r else None)
        for r in rows
    ]


# ---------------------------------------------------------------------------------------------
# the catalogue


Compute = Callable[[Window], Awaitable[list[Row]]]


@dataclass(frozen=True, slots=True)
class Metric:
    name: str
    team: Team
    unit: Unit
    description: str
    compute: Compute
    additive: bool = False  # counts and sums grow with time: their pace can be extrapolated
    groups: frozenset[GroupBy] = frozenset(GroupBy)
    breakdown: str | None = None  # what the series' ``breakdown`` holds, e.g. "reason"
    money: bool = False  # n is in cents


def _counting(base: _Base, anchor: str, expr: str, where: str = "") -> Compute:
    async def compute(w: Window) -> list[Row]:
        return await _aggregate(w, base, anchor, lambda d: f"{expr} AS n", where=where)

    return compute


def _ratio(base: _Base, anchor: str, n: str, den: str, where: str = "") -> Compute:
    async def compute(w: Window) -> list[Row]:
        return await _aggregate(w, base, anchor, lambda d: f"{n} AS n, {den} AS d", where=where)

    return compute


def _cohort(min_rank: int) -> Compute:
    """Share of the leads created in a period that reached the stage of ``min_rank``."""

    async def compute(w: Window) -> list[Row]:
        rows = await cohort_counts(w)
        return [(p, g, None, Decimal(c[min_rank]), Decimal(c[0])) for p, g, c in rows]

    return compute


async def cohort_counts(w: Window) -> list[tuple[date, str | None, list[int]]]:
    """Per cohort (creation period, group): how many leads reached each funnel stage.

    Stages only move forward except through recycled or disqualified (api.lifecycle), so a
    lead's current stage is the furthest it reached unless it went through one of those: only
    for those few leads is the stage history read, which keeps the query to one pass over the
    cohort instead of a join with every stage change.
    """
    d = dialect()
    group, join = _group_sql(LEADS, w.group_by)
    in_range = (
        f"{d.ts('l.created_at')} >= {d.ts_param(1)} AND {d.ts('l.created_at')} < {d.ts_param(2)}"
    )
    reached = d.greatest(stage_rank(d, "l.stage"), "COALESCE(m.r, -1)")
    went_back = (
        "SELECT DISTINCT b.lead_id FROM lead_stage_change b WHERE b.applied "
        "AND b.to_stage IN ('recycled', 'disqualified') "
        f"AND {d.ts('b.changed_at')} >= {d.ts_param(1)}"
    )
    # A correlated MAX per lead that went back: a few index probes, not a pass over history.
    furthest = (
        f"SELECT MAX({stage_rank(d, 'c.to_stage')}) FROM lead_stage_change c "
        "WHERE c.lead_id = k.lead_id AND c.applied"
    )
    sql = (
        f"SELECT t.p AS p, t.g AS g, t.r AS r, COUNT(*) AS n FROM ("
        f"  SELECT {d.bucket('l.created_at', w.kind)} AS p, {group} AS g, {reached} AS r"
        f"  FROM {LEADS.sql(group, join)}{join} LEFT JOIN ("
        f"    SELECT k.lead_id, ({furthest}) AS r FROM ({went_back}) k"
        f"  ) m ON m.lead_id = l.id"
        f"  WHERE {in_range}"
        f") t GROUP BY t.p, t.g, t.r"
    )
    counts: dict[tuple[date, str | None], list[int]] = {}
    for r in await fetch(sql, [w.begin, w.end]):
        reached_counts = counts.setdefault((_as_date(r["p"]), r["g"]), [0] * len(FUNNEL))
        # A lead that reached stage k counts for every stage up to k (recycled: only "new").
        for k in range(max(int(r["r"]), 0) + 1):
            reached_counts[k] += int(r["n"])
    return [(p, g, c) for (p, g), c in counts.items()]


async def _rejections_by_reason(w: Window) -> list[Row]:
    """Rejections per reason over all handoffs of the period and group."""
    rows = await _aggregate(
        w,
        HANDOFFS,
        "h.created_at",
        lambda d: "COUNT(*) AS n",
        breakdown="CASE WHEN h.status = 'rejected' THEN h.reason_code END",
    )
    totals: dict[tuple[date, str | None], Decimal] = {}
    for p, g, _, n, _ in rows:
        totals[(p, g)] = totals.get((p, g), Decimal(0)) + n
    return [(p, g, b, n, totals[(p, g)]) for p, g, b, n, _ in rows if b is not None]


async def _sla_compliance(w: Window) -> list[Row]:
    """Decided by the deadline, over handoffs that were decided or whose deadline passed."""

    def select(d: _Dialect) -> str:
        met = f"h.decided_at IS NOT NULL AND {d.ts('h.decided_at')} <= {d.ts('h.sla_deadline')}"
        due = f"h.status <> 'pending' OR {d.ts('h.sla_deadline')} < {d.ts_param(3)}"
        return (
            f"SUM(CASE WHEN {met} THEN 1 ELSE 0 END) AS n, "
            f"SUM(CASE WHEN {due} THEN 1 ELSE 0 END) AS d"
        )

    return await _aggregate(w, HANDOFFS, "h.created_at", select, extra_params=[w.now])


async def _time_to_first_touch(w: Window) -> list[Row]:
    def select(d: _Dialect) -> str:
        return f"SUM({d.days('h.created_at', 'h.decided_at')} * 24) AS n, COUNT(*) AS d"

    return await _aggregate(w, HANDOFFS, "h.created_at", select, where="h.decided_at IS NOT NULL")


async def _sales_cycle(w: Window) -> list[Row]:
    def select(d: _Dialect) -> str:
        return f"SUM({d.days('d.created_at', 'd.closed_at')}) AS n, COUNT(*) AS d"

    return await _aggregate(w, DEALS, "d.closed_at", select, where="d.stage = 'closed_won'")


def _money(anchor: str, where: str, *, average: bool = False) -> Compute:
    async def compute(w: Window) -> list[Row]:
        def select(d: _Dialect) -> str:
            count = ", COUNT(*) AS d" if average else ""
            return f"{d.cents('d.amount')} AS n{count}"

        return await _aggregate(w, DEALS, anchor, select, where=where)

    return compute


async def _new_customers(w: Window) -> list[Row]:
    """Accounts whose first win (customer_since) falls in the period of a won deal's close."""

    def select(d: _Dialect) -> str:
        del d
        return "COUNT(DISTINCT d.account_id) AS n"

    d = dialect()
    where = (
        "d.stage = 'closed_won' AND a.customer_since IS NOT NULL AND "
        f"{d.bucket('a.customer_since', w.kind)} = {d.bucket('d.closed_at', w.kind)}"
    )
    return await _aggregate(w, DEALS, "d.closed_at", select, where=where)


async def campaign_costs(w: Window) -> dict[tuple[date, str | None], Decimal]:
    """Campaign cost per period (of the day each cost entry was spent) and group, in cents."""
    d = dialect()
    day = "s.day"  # api/campaigns.py: cost entries, or a legacy cost at the campaign's start
    bucket = d.bucket(day, w.kind, is_date=True)
    group = "c.key" if w.group_by == GroupBy.CAMPAIGN else "NULL"
    if d.postgres:
        in_range = f"{day} >= $1::date AND {day} < $2::date"
    else:
        in_range = f"julianday({day}) >= julianday(?1) AND julianday({day}) < julianday(?2)"
    sql = (
        f"SELECT {bucket} AS p, {group} AS g, {d.cents('s.amount')} AS n "
        f"FROM {spending_sql(d.day_of('x.created_at'))} s JOIN campaign c ON c.id = s.campaign_id "
        f"WHERE {in_range} GROUP BY 1, 2"
    )
    rows = await fetch(sql, [w.starts[0], next_period(w.starts[-1], w.kind)])
    return {(_as_date(r["p"]), r["g"]): _num(r["n"]) for r in rows}


def _cac(sales_cost_per_month: Decimal) -> Compute:
    async def compute(w: Window) -> list[Row]:
        costs = await campaign_costs(w)
        customers = {(p, g): n for p, g, _, n, _ in await _new_customers(w)}
        if w.group_by is None:
            for start in w.starts:
                sales = sales_cost_per_month * months_in(start, w.kind) * 100
                costs[(start, None)] = costs.get((start, None), Decimal(0)) + sales
        keys = sorted(costs.keys() | customers.keys(), key=lambda k: (k[0], k[1] or ""))
        zero = Decimal(0)
        return [(p, g, None, costs.get((p, g), zero), customers.get((p, g), zero)) for p, g in keys]

    return compute


async def _retention(w: Window) -> list[Row]:
    """Of the customers at a period's start, how many were still customers at its end."""
    d = dialect()
    values = ", ".join(
        f"({i}, {d.ts_param(2 * i + 1)}, {d.ts_param(2 * i + 2)})" for i in range(len(w.starts))
    )
    params: list[Any] = []
    for start in w.starts:
        params += [utc(start), w.cap(utc(next_period(start, w.kind)))]
    group = "a.segment" if w.group_by == GroupBy.SEGMENT else "NULL"
    churned = d.ts("a.churned_at")
    sql = (
        f"WITH periods(i, ps, pe) AS (VALUES {values}) "
        f"SELECT p.i AS i, {group} AS g, "
        f"SUM(CASE WHEN a.churned_at IS NULL OR {churned} >= p.pe THEN 1 ELSE 0 END) AS n, "
        f"COUNT(*) AS d "
        f"FROM periods p JOIN account a ON a.customer_since IS NOT NULL "
        f"AND {d.ts('a.customer_since')} < p.ps AND (a.churned_at IS NULL OR {churned} >= p.ps) "
        "GROUP BY 1, 2"
    )
    rows = await fetch(sql, params)
    return [(w.starts[int(r["i"])], r["g"], None, _num(r["n"]), _num(r["d"])) for r in rows]


async def _velocity(w: Window) -> list[Row]:
    """Median days spent in each stage, for the stage changes (leaving that stage) in the
    period. Each change records when the lead entered the stage it leaves (entered_from_at),
    so time in a stage is one subtraction per row, with no search for the previous change.
    Rows without it are left out: migration 0003 filled it for the history, the services
    always write it, so only rows written outside them (raw SQL imports) can miss it."""
    d = dialect()
    group, join = _group_sql(STAGE_CHANGES, w.group_by)
    source = STAGE_CHANGES.sql(group, join) + join
    known = "c.applied AND c.entered_from_at IS NOT NULL"
    if d.postgres:
        # One median per (period, stage), each an index-only range of (from_stage,
        # changed_at, applied, entered_from_at): no sort of the whole range by group before
        # percentile_cont sorts each group again (docs/benchmarks.md, "Metrics").
        values = ", ".join(
            f"({i}, {d.ts_param(2 * i + 1)}, {d.ts_param(2 * i + 2)})" for i in range(len(w.starts))
        )
        params: list[Any] = []
        for start in w.starts:
            params += [utc(start), w.cap(utc(next_period(start, w.kind)))]
        stages = ", ".join(f"('{stage.value}')" for stage in LifecycleStage)
        sql = (
            f"WITH periods(i, ps, pe) AS (VALUES {values}), stages(b) AS (VALUES {stages}) "
            f"SELECT p.i AS i, m.g AS g, s.b AS b, m.n AS n FROM periods p CROSS JOIN stages s "
            f"CROSS JOIN LATERAL (SELECT {group} AS g, EXTRACT(EPOCH FROM percentile_cont(0.5) "
            f"WITHIN GROUP (ORDER BY c.changed_at - c.entered_from_at)) / 86400.0 AS n "
            f"FROM {source} WHERE c.from_stage = s.b AND {known} "
            f"AND c.changed_at >= p.ps AND c.changed_at < p.pe GROUP BY 1) m"
        )
        rows = await fetch(sql, params)
        return [(w.starts[int(r["i"])], r["g"], r["b"], _num(r["n"]), None) for r in rows]
    in_range = (
        f"{d.ts('c.changed_at')} >= {d.ts_param(1)} AND {d.ts('c.changed_at')} < {d.ts_param(2)}"
    )
    spans = (
        f"SELECT {d.bucket('c.changed_at', w.kind)} AS p, {group} AS g, c.from_stage AS b, "
        f"{d.days('c.entered_from_at', 'c.changed_at')} AS v FROM {source} "
        f"WHERE {known} AND {in_range}"
    )
    # No percentile function: average the middle row(s) of each ordered partition.
    sql = (
        f"SELECT p, g, b, AVG(v) AS n FROM ("
        f"  SELECT p, g, b, v,"
        f"  ROW_NUMBER() OVER (PARTITION BY p, g, b ORDER BY v) AS rn,"
        f"  COUNT(*) OVER (PARTITION BY p, g, b) AS cnt FROM ({spans}) s"
        f") m WHERE rn IN ((cnt + 1) / 2, (cnt + 2) / 2) GROUP BY p, g, b"
    )
    rows = await fetch(sql, [w.begin, w.end])
    return [(_as_date(r["p"]), r["g"], r["b"], _num(r["n"]), None) for r in rows]


def _catalogue(sales_cost_per_month: Decimal) -> dict[str, Metric]:
    count, rate = Unit.COUNT, Unit.RATE
    mkt, sales, shared = Team.MARKETING, Team.SALES, Team.SHARED
    won, closed = "d.stage = 'closed_won'", "d.stage IN ('closed_won', 'closed_lost')"
    yes = "SUM(CASE WHEN {} THEN 1 ELSE 0 END)".format
    later = (
        "EXISTS (SELECT 1 FROM lead_stage_change o WHERE o.lead_id = c.lead_id AND o.applied "
        "AND o.to_stage IN ('opportunity', 'customer'))"
    )
    metrics = [
        Metric("new_leads", mkt, count, "Leads created", _counting(LEADS, "l.created_at", "COUNT(*)"), additive=True),  # noqa: E501
        Metric("reach_leads", mkt, count, "Distinct leads with an activity", _counting(ACTIVITIES, "x.occurred_at", "COUNT(DISTINCT x.lead_id)"), additive=True),  # noqa: E501
        Metric("reach_accounts", mkt, count, "Distinct accounts of leads with an activity", _counting(ACTIVITIES, "x.occurred_at", "COUNT(DISTINCT l.account_id)"), additive=True),  # noqa: E501
        Metric("activities_per_lead", mkt, Unit.RATIO, "Activities per lead with an activity", _ratio(ACTIVITIES, "x.occurred_at", "COUNT(*)", "COUNT(DISTINCT x.lead_id)")),  # noqa: E501
        Metric("engaged_share", mkt, rate, "Share of new leads that reached engaged or beyond", _cohort(1)),  # noqa: E501
        Metric("lead_to_mql", mkt, rate, "Share of new leads that reached MQL or beyond", _cohort(2)),  # noqa: E501
        Metric("handoffs", Team.SHARED, count, "Handoffs created (MQLs handed to sales)", _counting(HANDOFFS, "h.created_at", "COUNT(*)"), additive=True),  # noqa: E501
        Metric("handoff_acceptance_rate", shared, rate, "Accepted handoffs over handoffs created", _ratio(HANDOFFS, "h.created_at", yes("h.status = 'accepted'"), "COUNT(*)")),  # noqa: E501
        Metric("handoff_rejection_rate", shared, rate, "Rejected handoffs over handoffs created", _ratio(HANDOFFS, "h.created_at", yes("h.status = 'rejected'"), "COUNT(*)")),  # noqa: E501
        Metric("rejection_rate_by_reason", shared, rate, "Rejections with this reason over handoffs created", _rejections_by_reason, breakdown="reason"),  # noqa: E501
        Metric("sla_compliance", shared, rate, "Handoffs decided by their deadline over handoffs decided or due", _sla_compliance),  # noqa: E501
        Metric("time_to_first_touch_hours", shared, Unit.HOURS, "Mean hours from handoff to decision", _time_to_first_touch),  # noqa: E501
        Metric("sql_to_opportunity", sales, rate, "Leads entering SQL that became an opportunity", _ratio(STAGE_CHANGES, "c.changed_at", yes(later), "COUNT(*)", where="c.applied AND c.to_stage = 'sql'")),  # noqa: E501
        Metric("opportunity_to_won", sales, rate, "Deals created that are won", _ratio(DEALS, "d.created_at", yes(won), "COUNT(*)")),  # noqa: E501
        Metric("win_rate", sales, rate, "Won over closed deals", _ratio(DEALS, "d.closed_at", yes(won), "COUNT(*)", where=closed)),  # noqa: E501
        Metric("deals_won", sales, count, "Deals won", _counting(DEALS, "d.closed_at", "COUNT(*)", where=won), additive=True),  # noqa: E501
        Metric("sales_cycle_days", sales, Unit.DAYS, "Mean days from deal creation to win", _sales_cycle),  # noqa: E501
        Metric("pipeline_value", sales, Unit.MONEY, "Amount of the deals created (pipeline generated)", _money("d.created_at", ""), additive=True, money=True),  # noqa: E501
        Metric("revenue_won", sales, Unit.MONEY, "Amount of the deals won", _money("d.closed_at", won), additive=True, money=True),  # noqa: E501
        Metric("average_deal_size", sales, Unit.MONEY, "Mean amount of the deals won", _money("d.closed_at", won, average=True), money=True),  # noqa: E501
        Metric("new_customers", shared, count, "Accounts that became customers", _new_customers, additive=True),  # noqa: E501
        Metric("cac", shared, Unit.MONEY, "Campaign cost plus sales cost, per new customer (by campaign: that campaign's cost only)", _cac(sales_cost_per_month), groups=frozenset({GroupBy.CAMPAIGN}), money=True),  # noqa: E501
        Metric("retention", shared, rate, "Customers at the period's start still customers at its end", _retention, groups=frozenset({GroupBy.SEGMENT})),  # noqa: E501
        Metric("velocity_days", shared, Unit.DAYS, "Median days spent in each stage before leaving it", _velocity, breakdown="stage"),  # noqa: E501
    ]  # fmt: skip
    return {m.name: m for m in metrics}


CATALOGUE = _catalogue(Decimal(0))  # names, units and teams: the sales cost only changes CAC


def metric_names() -> list[str]:
    return list(CATALOGUE)


def get_metric(name: str, *, field: str = "metrics") -> Metric:
    metric = CATALOGUE.get(name)
    if metric is None:
        close = [n for n in CATALOGUE if re.sub("[^a-z]", "", name.lower()) in n.replace("_", "")]
        raise InvalidInput(
            f"unknown metric {name!r}",
            field=field,
            suggestion=f"one of: {', '.join(close or CATALOGUE)}",
        )
    return metric


# ---------------------------------------------------------------------------------------------
# entry points


def _value(metric: Metric, n: Decimal, d: Decimal | None) -> float | None:
    if metric.money:
        n = n / 100
    if d is None:
        return round(float(n), 6)
    if d == 0:
        return None
    return round(float(n / d), 6)


async def compute_metrics(
    *,
    names: Sequence[str],
    period: PeriodKind,
    start: date,
    end: date,
    group_by: GroupBy | None = None,
    sales_cost_per_month: Decimal = Decimal(0),
    now: datetime | None = None,
    until: datetime | None = None,
) -> list[Series]:
    """One series per metric and group (and breakdown), with a point for every period:
    counts and sums are 0 in an empty period, ratios null (nothing to divide)."""
    starts = periods(start, end, period)
    if not names:
        raise InvalidInput("name at least one metric", field="metrics")
    chosen = [get_metric(n) for n in dict.fromkeys(names)]
    catalogue = _catalogue(sales_cost_per_month)
    for metric in chosen:
        if group_by is not None and group_by not in metric.groups:
            allowed = ", ".join(sorted(metric.groups)) or "none"
            raise InvalidInput(
                f"{metric.name} cannot be grouped by {group_by}",
                field="groupBy",
                suggestion=f"group {metric.name} by: {allowed}, or not at all",
            )
    window = Window(period, starts, group_by, now or datetime.now(UTC), until)
    out: list[Series] = []
    for metric in chosen:
        rows = await catalogue[metric.name].compute(window)
        out += _series(metric, rows, window)
    return out


def _series(metric: Metric, rows: list[Row], w: Window) -> list[Series]:
    keyed: dict[tuple[str | None, str | None], dict[date, float | None]] = {}
    for p, g, b, n, d in rows:
        group = (g if g is not None else NO_GROUP) if w.group_by else None
        keyed.setdefault((None if group is None else str(group), b), {})[p] = _value(metric, n, d)
    if not keyed and metric.breakdown is None:
        keyed[(NO_GROUP if w.group_by else None, None)] = {}
    empty = 0.0 if metric.unit in (Unit.COUNT,) or metric.additive else None
    return [
        Series(
            metric=metric.name,
            group=group,
            breakdown=b,
            unit=metric.unit,
            points=[Point(s, values.get(s, empty)) for s in w.starts],
        )
        for (group, b), values in sorted(
            keyed.items(), key=lambda kv: (kv[0][0] or "", kv[0][1] or "")
        )
    ]


@dataclass(frozen=True, slots=True)
class FunnelStage:
    stage: LifecycleStage
    count: int
    from_previous: float | None
    from_start: float | None


@dataclass(frozen=True, slots=True)
class Cohort:
    """Leads created in one period (and group), followed through the funnel."""

    period_start: date
    group: str | None
    stages: list[FunnelStage]


async def funnel(
    *,
    start: date,
    end: date,
    period: PeriodKind = PeriodKind.MONTH,
    group_by: GroupBy | None = None,
) -> list[Cohort]:
    """Cohort funnel: of the leads created in each period, how many reached each stage."""
    starts = periods(start, end, period)
    rows = await cohort_counts(Window(period, starts, group_by, datetime.now(UTC)))
    out = []
    for p, g, counts in sorted(rows, key=lambda r: (r[0], str(r[1] or ""))):
        stages = [
            FunnelStage(
                stage=stage,
                count=counts[k],
                from_previous=_share(counts[k], counts[k - 1]) if k else None,
                from_start=_share(counts[k], counts[0]) if k else None,
            )
            for k, stage in enumerate(FUNNEL)
        ]
        group = (str(g) if g is not None else NO_GROUP) if group_by else None
        out.append(Cohort(period_start=p, group=group, stages=stages))
    return out


def _share(n: int, d: int) -> float | None:
    return n / d if d else None


def median(values: Sequence[float]) -> float:
    """Kept for tests that cross-check the SQL medians on small samples."""
    return float(statistics.median(values))
