"""Shared goals: a target on a metric for one period, owned by marketing, sales or both.

Progress reads the same SQL metrics as the dashboards, so a goal can never disagree with the
chart next to it. The forecast extrapolates the current pace linearly over the elapsed part of
the period, which only makes sense for metrics that accumulate (counts and sums); for rates
and averages the forecast is the current value.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from tortoise.transactions import in_transaction

from api.enums import PeriodKind, Team
from api.errors import InvalidInput
from api.metrics.compute import compute_metrics
from api.metrics.definitions import get_metric
from api.metrics.periods import elapsed_fraction, period_start, periods
from api.models import Goal

GOAL_PERIODS = frozenset(PeriodKind)
# Everything is checked before a goal is written: a period whose end cannot be represented
# (year 9999) would be stored and then break every read of goals over it.
MIN_START, MAX_START = date(1970, 1, 1), date(2999, 10, 1)


@dataclass(frozen=True, slots=True)
class GoalProgress:
    goal: Goal
    actual: float | None
    progress: float | None  # actual / target; target / actual when lower is better
    forecast: float | None  # value at the period's end at the current pace
    elapsed: float  # share of the period that has passed
    lower_is_better: bool  # the target is a ceiling (CAC, delays, rejections)
    on_track: bool | None  # the forecast meets the target, in the metric's direction


async def set_goal(
    *, metric: str, period_kind: PeriodKind, start: date, target: Decimal, team: Team
) -> Goal:
    """Create or change the goal for (metric, period, team): one target per team and period."""
    definition = get_metric(metric, field="metric")
    if definition.breakdown is not None:
        raise InvalidInput(
            f"{metric} is a breakdown, not a single number",
            field="metric",
            suggestion="set goals on metrics without a breakdown",
        )
    if not MIN_START <= start <= MAX_START:
        raise InvalidInput(
            f"{start} is outside the years goals can be set for",
            field="periodStart",
            suggestion=f"a date between {MIN_START} and {MAX_START}",
        )
    if start != period_start(start, period_kind):
        raise InvalidInput(
            f"{start} does not start a {period_kind}",
            field="periodStart",
            suggestion=f"use {period_start(start, period_kind)}",
        )
    if not target.is_finite() or target < 0 or target != target.quantize(Decimal("0.01")):
        raise InvalidInput(
            f"target must be a number ≥ 0 with at most 2 decimals, got {target}", field="target"
        )
    target = target.quantize(Decimal("0.01"))  # as stored, so replies match later reads
    async with in_transaction():
        goal, created = await Goal.get_or_create(
            metric=metric,
            period_kind=period_kind,
            period_start=start,
            team=team,
            defaults={"target": target},
        )
        if not created and goal.target != target:
            goal.target = target
            await goal.save(update_fields=["target", "updated_at"])
        return goal


async def list_goals(*, period_kind: PeriodKind | None, start: date, end: date) -> list[Goal]:
    """Goals whose period starts within ``start..end``."""
    if start > end:
        raise InvalidInput(f"from ({start}) is after to ({end})", field="from")
    query = Goal.filter(period_start__gte=start, period_start__lte=end)
    if period_kind is not None:
        query = query.filter(period_kind=period_kind)
    return await query.order_by("period_start", "metric", "team")


async def goal_progress(
    *, goal: Goal, sales_cost_per_month: Decimal = Decimal(0), now: datetime | None = None
) -> GoalProgress:
    now = now or datetime.now(UTC)
    kind = PeriodKind(goal.period_kind)
    series = await compute_metrics(
        names=[goal.metric],
        period=kind,
        start=goal.period_start,
        end=periods(goal.period_start, goal.period_start, kind)[0],
        sales_cost_per_month=sales_cost_per_month,
        now=now,
        until=now,
    )
    actual = series[0].points[0].value if series and series[0].points else None
    elapsed = elapsed_fraction(goal.period_start, kind, now)
    target = float(goal.target)
    metric = get_metric(goal.metric)
    if actual is None or elapsed == 0:
        forecast = None
    elif metric.additive:
        forecast = round(actual / elapsed, 6)
    else:
        forecast = actual
    return GoalProgress(
        goal=goal,
        actual=actual,
        progress=_progress(actual, target, lower_is_better=metric.lower_is_better),
        forecast=forecast,
        elapsed=round(elapsed, 6),
        lower_is_better=metric.lower_is_better,
        on_track=_on_track(forecast, target, lower_is_better=metric.lower_is_better),
    )


def _progress(actual: float | None, target: float, *, lower_is_better: bool) -> float | None:
    """1 means the goal is met, more means beaten. A ceiling (lower is better) is met by any
    actual at or below it: progress target / actual, and 1 when the actual is 0."""
    if actual is None:
        return None
    if lower_is_better:
        if actual == 0:
            return 1.0
        return round(target / actual, 6)
    return round(actual / target, 6) if target else None


def _on_track(forecast: float | None, target: float, *, lower_is_better: bool) -> bool | None:
    if forecast is None:
        return None
    return forecast <= target if lower_is_better else forecast >= target
