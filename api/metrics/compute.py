"""Computing metrics: one query per metric, then the series a chart plots, with a point for
every period (counts and sums are 0 in an empty period, ratios null: nothing to divide)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal

from api.enums import PeriodKind
from api.errors import InvalidInput
from api.metrics.definitions import Metric, Unit, catalogue_with, get_metric
from api.metrics.periods import NO_GROUP, GroupBy, Window, periods
from api.metrics.sql import Row


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
    catalogue = catalogue_with(sales_cost_per_month)
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


def median(values: Sequence[float]) -> float:
    """Kept for tests that cross-check the SQL medians on small samples."""
    return float(statistics.median(values))
