"""How each metric is measured: the aggregate behind every catalogue entry that is not a
cohort (api/metrics/cohorts.py) or a cost (api/metrics/costs.py)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from api.enums import LifecycleStage
from api.metrics.periods import GroupBy, Window, next_period, utc
from api.metrics.sql import (
    DEALS,
    HANDOFFS,
    STAGE_CHANGES,
    Base,
    Compute,
    Dialect,
    Row,
    aggregate,
    as_date,
    dialect,
    fetch,
    group_sql,
    num,
)


def counting(base: Base, anchor: str, expr: str, where: str = "") -> Compute:
    async def compute(w: Window) -> list[Row]:
        return await aggregate(w, base, anchor, lambda d: f"{expr} AS n", where=where)

    return compute


def ratio(base: Base, anchor: str, n: str, den: str, where: str = "") -> Compute:
    async def compute(w: Window) -> list[Row]:
        return await aggregate(w, base, anchor, lambda d: f"{n} AS n, {den} AS d", where=where)

    return compute


async def rejections_by_reason(w: Window) -> list[Row]:
    """Rejections per reason over all handoffs of the period and group."""
    rows = await aggregate(
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


async def sla_compliance(w: Window) -> list[Row]:
    """Decided by the deadline, over handoffs that were decided or whose deadline passed."""

    def select(d: Dialect) -> str:
        met = f"h.decided_at IS NOT NULL AND {d.ts('h.decided_at')} <= {d.ts('h.sla_deadline')}"
        due = f"h.status <> 'pending' OR {d.ts('h.sla_deadline')} < {d.ts_param(3)}"
        return (
            f"SUM(CASE WHEN {met} THEN 1 ELSE 0 END) AS n, "
            f"SUM(CASE WHEN {due} THEN 1 ELSE 0 END) AS d"
        )

    return await aggregate(w, HANDOFFS, "h.created_at", select, extra_params=[w.now])


async def time_to_first_touch(w: Window) -> list[Row]:
    def select(d: Dialect) -> str:
        return f"SUM({d.days('h.created_at', 'h.decided_at')} * 24) AS n, COUNT(*) AS d"

    return await aggregate(w, HANDOFFS, "h.created_at", select, where="h.decided_at IS NOT NULL")


async def sales_cycle(w: Window) -> list[Row]:
    def select(d: Dialect) -> str:
        return f"SUM({d.days('d.created_at', 'd.closed_at')}) AS n, COUNT(*) AS d"

    return await aggregate(w, DEALS, "d.closed_at", select, where="d.stage = 'closed_won'")


def money(anchor: str, where: str, *, average: bool = False) -> Compute:
    async def compute(w: Window) -> list[Row]:
        def select(d: Dialect) -> str:
            count = ", COUNT(*) AS d" if average else ""
            return f"{d.cents('d.amount')} AS n{count}"

        return await aggregate(w, DEALS, anchor, select, where=where)

    return compute


async def new_customers(w: Window) -> list[Row]:
    """Accounts whose first win (customer_since) falls in the period of a won deal's close."""

    def select(d: Dialect) -> str:
        del d
        return "COUNT(DISTINCT d.account_id) AS n"

    d = dialect()
    where = (
        "d.stage = 'closed_won' AND a.customer_since IS NOT NULL AND "
        f"{d.bucket('a.customer_since', w.kind)} = {d.bucket('d.closed_at', w.kind)}"
    )
    return await aggregate(w, DEALS, "d.closed_at", select, where=where)


async def retention(w: Window) -> list[Row]:
    """Of the customers during a period (customers at its start, and those won in it), how
    many were still customers at its end: one won and lost within the period is not retained."""
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
        f"AND {d.ts('a.customer_since')} < p.pe AND (a.churned_at IS NULL OR {churned} >= p.ps) "
        "GROUP BY 1, 2"
    )
    rows = await fetch(sql, params)
    return [(w.starts[int(r["i"])], r["g"], None, num(r["n"]), num(r["d"])) for r in rows]


async def velocity(w: Window) -> list[Row]:
    """Median days spent in each stage, for the stage changes (leaving that stage) in the
    period. Each change records when the lead entered the stage it leaves (entered_from_at),
    so time in a stage is one subtraction per row, with no search for the previous change.
    Rows without it are left out: migration 0003 filled it for the history, the services
    always write it, so only rows written outside them (raw SQL imports) can miss it."""
    d = dialect()
    group, join = group_sql(STAGE_CHANGES, w.group_by)
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
        return [(w.starts[int(r["i"])], r["g"], r["b"], num(r["n"]), None) for r in rows]
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
    return [(as_date(r["p"]), r["g"], r["b"], num(r["n"]), None) for r in rows]
