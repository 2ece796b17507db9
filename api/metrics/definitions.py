"""The metric catalogue: what each metric means (its description is the definition users
read in ``metricDefinitions``), its unit, who owns it, how it can be grouped, whether it
accumulates over a period, and whether lower is better (goals read that)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from api.enums import Team
from api.errors import InvalidInput
from api.metrics.cohorts import cohort_share
from api.metrics.costs import cac
from api.metrics.measures import (
    counting,
    money,
    new_customers,
    ratio,
    rejections_by_reason,
    retention,
    sales_cycle,
    sla_compliance,
    time_to_first_touch,
    velocity,
)
from api.metrics.periods import GroupBy
from api.metrics.sql import ACTIVITIES, DEALS, HANDOFFS, LEADS, STAGE_CHANGES, Compute


class Unit(StrEnum):
    COUNT = "count"
    RATE = "rate"
    MONEY = "money"
    DAYS = "days"
    HOURS = "hours"
    RATIO = "ratio"


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
    lower_is_better: bool = False  # costs, delays, rejections, queues: a goal is a ceiling


_OPEN_HANDOFF = (
    "SELECT 1 FROM handoff q WHERE q.lead_id = l.id AND q.status IN ('pending', 'expired')"
)


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
        Metric("new_leads", mkt, count, "Leads created", counting(LEADS, "l.created_at", "COUNT(*)"), additive=True),  # noqa: E501
        Metric("reach_leads", mkt, count, "Distinct leads with an activity", counting(ACTIVITIES, "x.occurred_at", "COUNT(DISTINCT x.lead_id)"), additive=True),  # noqa: E501
        Metric("reach_accounts", mkt, count, "Distinct accounts of leads with an activity", counting(ACTIVITIES, "x.occurred_at", "COUNT(DISTINCT l.account_id)"), additive=True),  # noqa: E501
        Metric("activities_per_lead", mkt, Unit.RATIO, "Activities per lead with an activity", ratio(ACTIVITIES, "x.occurred_at", "COUNT(*)", "COUNT(DISTINCT x.lead_id)")),  # noqa: E501
        Metric("engaged_share", mkt, rate, "Share of new leads that reached engaged or beyond", cohort_share(1)),  # noqa: E501
        Metric("lead_to_mql", mkt, rate, "Share of new leads that reached MQL or beyond", cohort_share(2)),  # noqa: E501
        Metric("unrouted_leads", shared, count, "Leads that reached MQL in the period and still wait for a rep: no owner, no open handoff (the unroutedLeads queue)", counting(LEADS, "l.mql_at", "COUNT(*)", where=f"l.stage = 'mql' AND l.owner_id IS NULL AND NOT EXISTS ({_OPEN_HANDOFF})"), additive=True, lower_is_better=True),  # noqa: E501
        Metric("mqls", mkt, count, "Leads that became MQL (mql_at) in the period", counting(LEADS, "l.mql_at", "COUNT(*)"), additive=True),  # noqa: E501
        Metric("sqls", sales, count, "Leads that entered SQL in the period", counting(STAGE_CHANGES, "c.changed_at", "COUNT(DISTINCT c.lead_id)", where="c.applied AND c.to_stage = 'sql'"), additive=True),  # noqa: E501
        Metric("handoffs", Team.SHARED, count, "Handoffs created (MQLs handed to sales)", counting(HANDOFFS, "h.created_at", "COUNT(*)"), additive=True),  # noqa: E501
        Metric("handoff_acceptance_rate", shared, rate, "Accepted handoffs over handoffs created", ratio(HANDOFFS, "h.created_at", yes("h.status = 'accepted'"), "COUNT(*)")),  # noqa: E501
        Metric("handoff_rejection_rate", shared, rate, "Rejected handoffs over handoffs created", ratio(HANDOFFS, "h.created_at", yes("h.status = 'rejected'"), "COUNT(*)"), lower_is_better=True),  # noqa: E501
        Metric("rejection_rate_by_reason", shared, rate, "Rejections with this reason over handoffs created", rejections_by_reason, breakdown="reason", lower_is_better=True),  # noqa: E501
        Metric("sla_compliance", shared, rate, "Handoffs decided by their deadline over handoffs decided or due", sla_compliance),  # noqa: E501
        Metric("time_to_first_touch_hours", shared, Unit.HOURS, "Mean hours from handoff to decision", time_to_first_touch, lower_is_better=True),  # noqa: E501
        Metric("sql_to_opportunity", sales, rate, "Leads entering SQL in the period that became an opportunity; null when no lead entered SQL (a rulebook with no way into SQL, or deals opened straight from SAL)", ratio(STAGE_CHANGES, "c.changed_at", yes(later), "COUNT(*)", where="c.applied AND c.to_stage = 'sql'")),  # noqa: E501
        Metric("opportunity_to_won", sales, rate, "Deals created that are won", ratio(DEALS, "d.created_at", yes(won), "COUNT(*)")),  # noqa: E501
        Metric("win_rate", sales, rate, "Won over closed deals", ratio(DEALS, "d.closed_at", yes(won), "COUNT(*)", where=closed)),  # noqa: E501
        Metric("deals_won", sales, count, "Deals won", counting(DEALS, "d.closed_at", "COUNT(*)", where=won), additive=True),  # noqa: E501
        Metric("sales_cycle_days", sales, Unit.DAYS, "Mean days from deal creation to win", sales_cycle, lower_is_better=True),  # noqa: E501
        Metric("pipeline_value", sales, Unit.MONEY, "Amount of the deals created (pipeline generated)", money("d.created_at", ""), additive=True, money=True),  # noqa: E501
        Metric("revenue_won", sales, Unit.MONEY, "Amount of the deals won", money("d.closed_at", won), additive=True, money=True),  # noqa: E501
        Metric("average_deal_size", sales, Unit.MONEY, "Mean amount of the deals won", money("d.closed_at", won, average=True), money=True),  # noqa: E501
        Metric("new_customers", shared, count, "Accounts that became customers", new_customers, additive=True),  # noqa: E501
        Metric("cac", shared, Unit.MONEY, "Campaign cost spent in the period (spread over the days a campaign runs) plus sales cost, per new customer; by campaign: that campaign's cost spent so far per customer it acquired so far (first touch)", cac(sales_cost_per_month), groups=frozenset({GroupBy.CAMPAIGN}), money=True, lower_is_better=True),  # noqa: E501
        Metric("retention", shared, rate, "Customers during the period (at its start, or won in it) still customers at its end; a customer won and lost in the same period counts as not retained", retention, groups=frozenset({GroupBy.SEGMENT})),  # noqa: E501
        Metric("velocity_days", shared, Unit.DAYS, "Median days spent in each stage before leaving it", velocity, breakdown="stage", lower_is_better=True),  # noqa: E501
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


def catalogue_with(sales_cost_per_month: Decimal) -> dict[str, Metric]:
    return _catalogue(sales_cost_per_month)
