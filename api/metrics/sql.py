"""SQL building blocks: the dialect expressions SQLite and PostgreSQL spell differently, the
tables a metric reads with the joins it may need, and the one-aggregate-per-metric query.

Column names and the period kind come from this package, never from user input: only they are
formatted into SQL; values are always parameters.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from tortoise import Tortoise
from tortoise.transactions import in_transaction

from api.enums import PeriodKind
from api.lifecycle import FUNNEL
from api.locking import on_postgres
from api.metrics.periods import GroupBy, Window


class Dialect:
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


def dialect() -> Dialect:
    return Dialect(on_postgres())


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


def as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def num(value: Any) -> Decimal:
    if value is None:
        return Decimal(0)
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(value)


_RANKS = {stage: rank for rank, stage in enumerate(FUNNEL)}


def stage_rank(d: Dialect, col: str) -> str:
    """A stage's position in the funnel; recycled and disqualified rank below new."""
    whens = " ".join(f"WHEN '{stage.value}' THEN {rank}" for stage, rank in _RANKS.items())
    del d
    return f"(CASE {col} {whens} ELSE -1 END)"


@dataclass(frozen=True, slots=True)
class Base:
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
LEADS = Base("lead l", (_ACCOUNT,), _LEAD_GROUPS)
ACTIVITIES = Base("activity x", (("l", "JOIN lead l ON l.id = x.lead_id"), _ACCOUNT), _LEAD_GROUPS)
STAGE_CHANGES = Base(
    "lead_stage_change c", (("l", "JOIN lead l ON l.id = c.lead_id"), _ACCOUNT), _LEAD_GROUPS
)
HANDOFFS = Base(
    "handoff h",
    (("l", "JOIN lead l ON l.id = h.lead_id"), _ACCOUNT),
    {**_LEAD_GROUPS, GroupBy.OWNER: "h.owner_id"},
)
DEALS = Base(
    "deal d",
    (("a", "JOIN account a ON a.id = d.account_id"), ("l", "LEFT JOIN lead l ON l.id = d.lead_id")),
    {**_LEAD_GROUPS, GroupBy.OWNER: "d.owner_id"},
)


def group_sql(base: Base, group_by: GroupBy | None) -> tuple[str, str]:
    """The group expression and the join that turns ids into readable labels."""
    if group_by is None:
        return "NULL", ""
    col = base.groups[group_by]
    if group_by == GroupBy.CAMPAIGN:
        return "gc.key", f" LEFT JOIN campaign gc ON gc.id = {col}"
    if group_by == GroupBy.OWNER:
        return "gr.email", f" LEFT JOIN sales_rep gr ON gr.id = {col}"
    return col, ""


Row = tuple[date, str | None, str | None, Decimal, Decimal | None]  # period, group, breakdown, n, d
Compute = Callable[[Window], Awaitable[list[Row]]]  # one metric's aggregate over a window


async def aggregate(
    w: Window,
    base: Base,
    anchor: str,
    select: Callable[[Dialect], str],
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
    group, join = group_sql(base, w.group_by)
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
        (as_date(r["p"]), r["g"], r["b"], num(r["n"]), num(r["d"]) if "d" in r else None)
        for r in rows
    ]
