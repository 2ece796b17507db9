"""The cohort funnel: of the leads created in a period, how many entered each stage.

A funnel counts the leads that *entered* a stage (an applied stage change into it, or it is
where the lead is). Stages may be skipped (the lifecycle allows forward jumps, e.g. a deal opened
from SAL skips SQL), so ``reached`` (entered it or went past it) is kept apart, and the
difference is reported as ``skipped``: a stage nobody entered shows 0 entered, not the count of
the leads that jumped over it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from api.enums import LifecycleStage, PeriodKind
from api.lifecycle import FUNNEL
from api.metrics.periods import NO_GROUP, GroupBy, Window, periods
from api.metrics.sql import LEADS, Compute, Row, as_date, dialect, fetch, group_sql, stage_rank

Counts = list[tuple[date, str | None, list[int]]]


def cohort_share(min_rank: int) -> Compute:
    """Share of the leads created in a period that reached the stage of ``min_rank``."""

    async def compute(w: Window) -> list[Row]:
        rows = await cohort_counts(w)
        return [(p, g, None, Decimal(c[min_rank]), Decimal(c[0])) for p, g, c in rows]

    return compute


async def cohort_counts(w: Window) -> Counts:
    """Per cohort (creation period, group): how many leads reached each funnel stage (entered
    it or went past it).

    Stages only move forward except through recycled or disqualified (api.lifecycle), so a
    lead's current stage is the furthest it reached unless it went through one of those: only
    for those few leads is the stage history read, which keeps the query to one pass over the
    cohort instead of a join with every stage change.
    """
    d = dialect()
    group, join = group_sql(LEADS, w.group_by)
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
        reached_counts = counts.setdefault((as_date(r["p"]), r["g"]), [0] * len(FUNNEL))
        # A lead that reached stage k counts for every stage up to k (recycled: only "new").
        for k in range(max(int(r["r"]), 0) + 1):
            reached_counts[k] += int(r["n"])
    return [(p, g, c) for (p, g), c in counts.items()]


async def entered_counts(w: Window) -> Counts:
    """Per cohort: how many leads entered each funnel stage (every lead entered ``new``).

    A lead was in a stage when it is there now or an applied stage change leads into or out of
    it. One pass: the cohort's leads joined with their changes (changes come after a lead's
    creation, so only those from the window's start on), one row per lead with a flag per
    stage, then the flags are summed per cohort.
    """
    d = dialect()
    group, join = group_sql(LEADS, w.group_by)
    in_range = (
        f"{d.ts('l.created_at')} >= {d.ts_param(1)} AND {d.ts('l.created_at')} < {d.ts_param(2)}"
    )
    flags = ", ".join(
        f"MAX(CASE WHEN '{stage.value}' IN (l.stage, c.to_stage, c.from_stage) THEN 1 ELSE 0 END)"
        f" AS e{k}"
        for k, stage in enumerate(FUNNEL)
        if k
    )
    sums = ", ".join(f"SUM(x.e{k}) AS e{k}" for k in range(1, len(FUNNEL)))
    sql = (
        f"SELECT x.p AS p, x.g AS g, COUNT(*) AS e0, {sums} FROM ("
        f"  SELECT {d.bucket('l.created_at', w.kind)} AS p, {group} AS g, {flags}"
        f"  FROM {LEADS.sql(group, join)}{join} LEFT JOIN lead_stage_change c"
        f"  ON c.lead_id = l.id AND c.applied AND {d.ts('c.changed_at')} >= {d.ts_param(1)}"
        f"  WHERE {in_range} GROUP BY l.id, 1, 2"
        f") x GROUP BY 1, 2"
    )
    return [
        (as_date(r["p"]), r["g"], [int(r[f"e{k}"]) for k in range(len(FUNNEL))])
        for r in await fetch(sql, [w.begin, w.end])
    ]


@dataclass(frozen=True, slots=True)
class FunnelStage:
    stage: LifecycleStage
    count: int  # entered it
    skipped: int  # went past it without entering it
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
    """Cohort funnel: of the leads created in each period, how many entered each stage, and how
    many skipped it. Shares are of entered counts: after a stage nobody entered they are null."""
    starts = periods(start, end, period)
    window = Window(period, starts, group_by, datetime.now(UTC))
    reached = {(p, g): c for p, g, c in await cohort_counts(window)}
    entered = {(p, g): c for p, g, c in await entered_counts(window)}
    out = []
    for (p, g), counts in sorted(entered.items(), key=lambda r: (r[0][0], str(r[0][1] or ""))):
        went = reached.get((p, g), counts)
        stages = [
            FunnelStage(
                stage=stage,
                count=counts[k],
                skipped=max(went[k] - counts[k], 0),
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
