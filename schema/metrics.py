"""Metrics, the cohort funnel and goals in GraphQL: series shaped for charts, over api.metrics.

A chart plots ``metrics`` directly: one ``MetricSeries`` per line (metric x group x
breakdown), each with one point per period in order, including empty periods (0 for counts
and sums, null for ratios with nothing to divide), so x-axes of all series line up.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Annotated, Self

import strawberry
from strawberry import relay

from api import metrics as service
from api.enums import LifecycleStage, PeriodKind, Role, Team
from api.errors import LeadgateError, PermissionDenied
from api.metrics import goals as goal_service
from api.models import Goal as GoalRow
from schema.context import Info
from schema.errors import UserError, user_error
from schema.loaders import by_id

strawberry.enum(PeriodKind, description="Calendar period: weeks start on Monday, all in UTC")
strawberry.enum(Team, description="Who owns a goal")
strawberry.enum(service.GroupBy, name="MetricGroupBy", description="What splits a metric")
strawberry.enum(service.Unit, name="MetricUnit", description="How to read a metric's values")

From = Annotated[
    date, strawberry.argument(name="from", description="First day (widened to its period)")
]
To = Annotated[date, strawberry.argument(description="Last day, inclusive (widened)")]
GroupByArg = Annotated[
    service.GroupBy | None,
    strawberry.argument(name="groupBy", description="Split into one series per group"),
]


@strawberry.type(description="One value of a series.")
class MetricPoint:
    period_start: date = strawberry.field(description="First day of the period (x axis)")
    value: float | None = strawberry.field(description="Null when there is nothing to divide")


@strawberry.type(description="One line of a chart: a metric for one group and breakdown.")
class MetricSeries:
    metric: str = strawberry.field(description="Metric name, see metricDefinitions")
    group: str | None = strawberry.field(
        description="Campaign key, source, segment or owner email; '(none)' when unattributed; "
        "null without groupBy"
    )
    breakdown: str | None = strawberry.field(
        description="Reason (rejection_rate_by_reason) or stage (velocity_days)"
    )
    unit: service.Unit = strawberry.field(description="count, rate (0-1), money, days, ...")
    points: list[MetricPoint] = strawberry.field(description="One per period, in order")

    @classmethod
    def from_series(cls, series: service.Series) -> Self:
        return cls(
            metric=series.metric,
            group=series.group,
            breakdown=series.breakdown,
            unit=series.unit,
            points=[MetricPoint(period_start=p.period_start, value=p.value) for p in series.points],
        )


@strawberry.type(description="Result of metrics: the series, or what was wrong with the query.")
class MetricsResult:
    series: list[MetricSeries] = strawberry.field(description="Empty when userErrors is not")
    user_errors: list[UserError] = strawberry.field(description="Empty on success")


@strawberry.type(description="What a metric measures and how it can be split.")
class MetricDefinition:
    name: str = strawberry.field(description="Pass it in metrics(names:)")
    team: Team = strawberry.field(description="Team that mainly owns it")
    unit: service.Unit = strawberry.field(description="How to read its values")
    description: str = strawberry.field(description="The definition")
    group_by: list[service.GroupBy] = strawberry.field(description="Allowed groupBy values")
    breakdown: str | None = strawberry.field(description="What each series' breakdown holds")
    forecastable: bool = strawberry.field(
        description="Accumulates over a period: goals forecast it at the current pace"
    )
    lower_is_better: bool = strawberry.field(
        description="Lower values are better (costs, delays, rejections, queues)"
    )


@strawberry.type(description="How many leads of a cohort reached a stage.")
class FunnelStage:
    stage: LifecycleStage = strawberry.field(description="Funnel stage")
    count: int = strawberry.field(description="Leads of the cohort that entered it")
    skipped: int = strawberry.field(
        description="Leads of the cohort that went past it without entering it (the lifecycle "
        "allows skipping forward): a stage with count 0 and skipped > 0 was skipped, not reached"
    )
    from_previous: float | None = strawberry.field(
        description="Entered over the previous stage's entered (above 1 when leads skipped the "
        "previous stage; null after a stage nobody entered)"
    )
    from_start: float | None = strawberry.field(description="Share of the whole cohort")


@strawberry.type(description="Leads created in one period (and group), followed through.")
class FunnelCohort:
    period_start: date = strawberry.field(description="Cohort's creation period")
    group: str | None = strawberry.field(description="Group, null without groupBy")
    stages: list[FunnelStage] = strawberry.field(description="new → … → customer")


@strawberry.type(description="Result of funnel.")
class FunnelResult:
    cohorts: list[FunnelCohort] = strawberry.field(description="Cohorts with leads, in order")
    user_errors: list[UserError] = strawberry.field(description="Empty on success")


@strawberry.type(description="A shared target on a metric for one period, with its progress.")
class Goal(relay.Node):
    id: relay.NodeID[int]
    metric: str = strawberry.field(description="Metric name")
    period_kind: PeriodKind = strawberry.field(description="month, quarter, …")
    period_start: date = strawberry.field(description="First day of the period")
    target: Decimal = strawberry.field(description="Target value, in the metric's unit")
    team: Team = strawberry.field(description="marketing, sales or shared")
    actual: float | None = strawberry.field(description="The metric so far in the period")
    progress: float | None = strawberry.field(
        description="1 = met, more = beaten: actual / target, or target / actual when lower "
        "is better"
    )
    forecast: float | None = strawberry.field(
        description="Value at the period's end at the current pace (rates: the current value)"
    )
    elapsed: float = strawberry.field(description="Share of the period passed (0-1)")
    lower_is_better: bool = strawberry.field(
        description="The target is a ceiling (CAC, delays, rejections): progress is then "
        "target / actual"
    )
    on_track: bool | None = strawberry.field(
        description="The forecast meets the target in the metric's direction"
    )

    @classmethod
    def from_progress(cls, p: goal_service.GoalProgress) -> Self:
        return cls(
            id=p.goal.id,
            metric=p.goal.metric,
            period_kind=p.goal.period_kind,
            period_start=p.goal.period_start,
            target=p.goal.target,
            team=p.goal.team,
            actual=p.actual,
            progress=p.progress,
            forecast=p.forecast,
            elapsed=p.elapsed,
            lower_is_better=p.lower_is_better,
            on_track=p.on_track,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        rows = await by_id(GoalRow)([int(i) for i in node_ids])
        cost = info.context.settings.sales_cost_per_month
        return [
            cls.from_progress(await goal_service.goal_progress(goal=row, sales_cost_per_month=cost))
            if row
            else None
            for row in rows
        ]


@strawberry.type(description="Result of goals.")
class GoalsResult:
    goals: list[Goal] = strawberry.field(description="Goals with progress")
    user_errors: list[UserError] = strawberry.field(description="Empty on success")


@strawberry.input(description="Set or change the target for a metric, period and team.")
class SetGoalInput:
    metric: str = strawberry.field(description="A metric name without breakdown")
    period_kind: PeriodKind = strawberry.field(description="Goal period")
    period_start: date = strawberry.field(description="First day of that period")
    target: Decimal = strawberry.field(description="≥ 0, at most two decimals")
    team: Team = strawberry.field(description="marketing and sales keys set their own team's")


@strawberry.type(description="Result of setGoal.")
class SetGoalPayload:
    goal: Goal | None = strawberry.field(description="The goal with its progress")
    user_errors: list[UserError] = strawberry.field(description="Empty on success")


# Marketing and sales set their own team's goals; RevOps and admins set anyone's.
OWN_TEAM = {Role.MARKETING: Team.MARKETING, Role.SALES: Team.SALES}


def _check_team(info: Info, team: Team) -> None:
    principal = info.context.principal
    role = principal.role if principal else None
    if role in OWN_TEAM and OWN_TEAM[role] != team:
        raise PermissionDenied(
            f"role {role} may only set {OWN_TEAM[role]} goals",
            field="team",
            suggestion="ask RevOps for shared or other teams' goals",
        )


@strawberry.type
class MetricQueries:
    @strawberry.field(description="Metric series per period, ready to plot")
    async def metrics(
        self,
        info: Info,
        period: Annotated[PeriodKind, strawberry.argument(description="Bucket size")],
        from_: From,
        to: To,
        names: Annotated[
            list[str] | None,
            strawberry.argument(description="Metric names (default: all without breakdown)"),
        ] = None,
        group_by: GroupByArg = None,
    ) -> MetricsResult:
        chosen = names or [
            m.name
            for m in service.CATALOGUE.values()
            if m.breakdown is None and (group_by is None or group_by in m.groups)
        ]
        try:
            series = await service.compute_metrics(
                names=chosen,
                period=period,
                start=from_,
                end=to,
                group_by=group_by,
                sales_cost_per_month=info.context.settings.sales_cost_per_month,
            )
        except LeadgateError as exc:
            return MetricsResult(series=[], user_errors=[user_error(exc, prefix=())])
        return MetricsResult(series=[MetricSeries.from_series(s) for s in series], user_errors=[])

    @strawberry.field(description="What each metric measures")
    def metric_definitions(self) -> list[MetricDefinition]:
        return [
            MetricDefinition(
                name=m.name,
                team=m.team,
                unit=m.unit,
                description=m.description,
                group_by=sorted(m.groups),
                breakdown=m.breakdown,
                forecastable=m.additive,
                lower_is_better=m.lower_is_better,
            )
            for m in service.CATALOGUE.values()
        ]

    @strawberry.field(description="Cohort funnel: leads created per period, followed through")
    async def funnel(
        self,
        info: Info,
        from_: From,
        to: To,
        period: Annotated[
            PeriodKind, strawberry.argument(description="Cohort size")
        ] = PeriodKind.MONTH,
        group_by: GroupByArg = None,
    ) -> FunnelResult:
        try:
            cohorts = await service.funnel(start=from_, end=to, period=period, group_by=group_by)
        except LeadgateError as exc:
            return FunnelResult(cohorts=[], user_errors=[user_error(exc, prefix=())])
        return FunnelResult(
            cohorts=[
                FunnelCohort(
                    period_start=c.period_start,
                    group=c.group,
                    stages=[
                        FunnelStage(
                            stage=s.stage,
                            count=s.count,
                            skipped=s.skipped,
                            from_previous=s.from_previous,
                            from_start=s.from_start,
                        )
                        for s in c.stages
                    ],
                )
                for c in cohorts
            ],
            user_errors=[],
        )

    @strawberry.field(description="Goals whose period starts in from..to, with progress")
    async def goals(
        self,
        info: Info,
        from_: From,
        to: To,
        period_kind: Annotated[
            PeriodKind | None, strawberry.argument(description="Only this period kind")
        ] = None,
    ) -> GoalsResult:
        cost = info.context.settings.sales_cost_per_month
        try:
            rows = await goal_service.list_goals(period_kind=period_kind, start=from_, end=to)
        except LeadgateError as exc:
            return GoalsResult(goals=[], user_errors=[user_error(exc, prefix=())])
        goals, errors = [], []
        for row in rows:  # one bad row (stored before validation existed) hides no other
            try:
                progress = await goal_service.goal_progress(goal=row, sales_cost_per_month=cost)
            except LeadgateError as exc:
                errors.append(
                    UserError(
                        code=exc.code,
                        message=f"goal {row.id} ({row.metric}, {row.period_start}): {exc.message}",
                        field=["goals", str(row.id)],
                        suggestion="set the goal again on a valid metric, or remove it",
                    )
                )
                continue
            goals.append(Goal.from_progress(progress))
        return GoalsResult(goals=goals, user_errors=errors)


@strawberry.type
class MetricMutations:
    @strawberry.mutation(description="Set or change a goal (marketing/sales: their own team's)")
    async def set_goal(self, info: Info, input: SetGoalInput) -> SetGoalPayload:
        try:
            _check_team(info, input.team)
            row: GoalRow = await goal_service.set_goal(
                metric=input.metric,
                period_kind=input.period_kind,
                start=input.period_start,
                target=input.target,
                team=input.team,
            )
            progress = await goal_service.goal_progress(
                goal=row, sales_cost_per_month=info.context.settings.sales_cost_per_month
            )
        except LeadgateError as exc:
            return SetGoalPayload(goal=None, user_errors=[user_error(exc)])
        return SetGoalPayload(goal=Goal.from_progress(progress), user_errors=[])
