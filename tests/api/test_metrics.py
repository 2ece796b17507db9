"""Metrics over the hand-checked dataset of tests/api/metrics_data.py: exact values, the same
on SQLite and PostgreSQL. The comments derive each number from that dataset."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from starlette.applications import Starlette

from api.enums import PeriodKind, Team
from api.errors import InvalidInput
from api.metrics import GroupBy, Series, compute_metrics, funnel, periods
from api.metrics.goals import goal_progress, list_goals, set_goal
from api.models import Account, LeadStageChange
from tests.api import metrics_data
from tests.api.metrics_data import NOW, SALES_COST_PER_MONTH

JAN, FEB = date(2026, 1, 1), date(2026, 2, 1)
Values = dict[tuple[str | None, str | None], list[float | None]]


@pytest.fixture
async def dataset(app: Starlette) -> None:
    await metrics_data.load()


async def monthly(
    *names: str, group_by: GroupBy | None = None, kind: PeriodKind = PeriodKind.MONTH
) -> dict[str, Values]:
    series = await compute_metrics(
        names=list(names),
        period=kind,
        start=date(2026, 1, 15),  # widened to January
        end=date(2026, 2, 28),
        group_by=group_by,
        sales_cost_per_month=SALES_COST_PER_MONTH,
        now=NOW,
    )
    return _by_metric(series)


def _by_metric(series: list[Series]) -> dict[str, Values]:
    out: dict[str, Values] = {}
    for s in series:
        out.setdefault(s.metric, {})[(s.group, s.breakdown)] = [p.value for p in s.points]
    return out


def total(values: dict[str, Values], name: str) -> list[float | None]:
    return values[name][(None, None)]


async def test_marketing_metrics(dataset: None) -> None:
    m = await monthly(
        "new_leads", "reach_leads", "reach_accounts", "activities_per_lead",
        "engaged_share", "lead_to_mql",
    )  # fmt: skip
    # January leads 1, 2, 3, 4, 7; February 5, 6, 8.
    assert total(m, "new_leads") == [5, 3]
    # January activities: lead 1 x2, lead 2 x1, lead 3 x3 (accounts 1, 2, 3);
    # February: lead 1 x1, lead 5 x2 (accounts 1, 2).
    assert total(m, "reach_leads") == [3, 2]
    assert total(m, "reach_accounts") == [3, 2]
    assert total(m, "activities_per_lead") == [2.0, 1.5]
    # January: 1, 2, 3 and 7 (straight to MQL) got past new; lead 4's refused move does not
    # count. February: 5 (engaged) and 8 (sql) of 5, 6, 8.
    assert total(m, "engaged_share") == [0.8, 0.666667]
    # MQL or beyond: January 1, 2 (recycled later), 3, 7; February only 8.
    assert total(m, "lead_to_mql") == [0.8, 0.333333]


async def test_marketing_metrics_by_source_and_campaign(dataset: None) -> None:
    by_source = await monthly("new_leads", "lead_to_mql", group_by=GroupBy.SOURCE)
    assert by_source["new_leads"] == {
        ("(none)", None): [0, 1],  # lead 6 has no source
        ("paid", None): [2, 1],
        ("webinar", None): [3, 1],
    }
    # paid in January: 2 reached MQL, 4 did not.
    assert by_source["lead_to_mql"][("paid", None)] == [0.5, 0.0]
    assert by_source["lead_to_mql"][("webinar", None)] == [1.0, 1.0]
    by_campaign = await monthly("new_leads", group_by=GroupBy.CAMPAIGN)
    assert by_campaign["new_leads"] == {
        ("(none)", None): [0, 1],
        ("ads-feb", None): [0, 2],
        ("ads-jan", None): [2, 0],
        ("webinar-q1", None): [3, 0],
    }


async def test_handoff_metrics(dataset: None) -> None:
    m = await monthly(
        "handoffs", "handoff_acceptance_rate", "handoff_rejection_rate",
        "rejection_rate_by_reason", "sla_compliance", "time_to_first_touch_hours",
    )  # fmt: skip
    # January: handoffs 1 (accepted), 2 (rejected, too_small), 3 (accepted), 4 (expired);
    # February: 5, pending with its deadline after NOW.
    assert total(m, "handoffs") == [4, 1]
    assert total(m, "handoff_acceptance_rate") == [0.5, 0.0]
    assert total(m, "handoff_rejection_rate") == [0.25, 0.0]
    assert m["rejection_rate_by_reason"] == {(None, "too_small"): [0.25, None]}
    # Met: 1 (decided 1h early) and 3 (2h early); missed: 2 (2h late) and 4 (never).
    # February: nothing decided or due yet → nothing to divide.
    assert total(m, "sla_compliance") == [0.5, None]
    # Decided ones: 23h, 26h, 22h.
    assert total(m, "time_to_first_touch_hours") == [23.666667, None]


async def test_handoff_metrics_by_owner(dataset: None) -> None:
    m = await monthly("handoffs", "sla_compliance", group_by=GroupBy.OWNER)
    assert m["handoffs"] == {
        ("ana@leadgate.test", None): [2, 1],
        ("ben@leadgate.test", None): [2, 0],
    }
    # Ana: 1 met, 4 missed. Ben: 3 met, 2 missed.
    assert m["sla_compliance"][("ana@leadgate.test", None)] == [0.5, None]
    assert m["sla_compliance"][("ben@leadgate.test", None)] == [0.5, None]


async def test_sales_metrics(dataset: None) -> None:
    m = await monthly(
        "sql_to_opportunity", "opportunity_to_won", "win_rate", "deals_won",
        "sales_cycle_days", "pipeline_value", "revenue_won", "average_deal_size",
    )  # fmt: skip
    # Into SQL: lead 1 (Jan) and 3 (Feb) became opportunities, 8 (Feb) did not.
    assert total(m, "sql_to_opportunity") == [1.0, 0.5]
    # Created in January: deals 4, 5, 3, 1 — 4, 5, 1 won. February: deal 2, open.
    assert total(m, "opportunity_to_won") == [0.75, 0.0]
    # Closed in January: 4 (won). February: 1 and 5 won, 3 lost.
    assert total(m, "win_rate") == [1.0, 0.666667]
    assert total(m, "deals_won") == [1, 2]
    # Won cycles: 4 took 18 days; 1 took 21 and 5 took 36 → mean 28.5.
    assert total(m, "sales_cycle_days") == [18.0, 28.5]
    # Pipeline created: 3000.25 + 1000 + 5000 + 12000; February 8000.50.
    assert total(m, "pipeline_value") == [21000.25, 8000.5]
    assert total(m, "revenue_won") == [3000.25, 13000.0]
    assert total(m, "average_deal_size") == [3000.25, 6500.0]


async def test_sales_metrics_by_owner_and_segment(dataset: None) -> None:
    by_owner = await monthly("revenue_won", "win_rate", group_by=GroupBy.OWNER)
    # Ben won nothing (his deal 3 was lost): a group appears where it has rows.
    assert by_owner["revenue_won"] == {("ana@leadgate.test", None): [3000.25, 13000.0]}
    assert by_owner["win_rate"][("ben@leadgate.test", None)] == [None, 0.0]
    by_segment = await monthly("revenue_won", group_by=GroupBy.SEGMENT)
    assert by_segment["revenue_won"] == {
        ("enterprise", None): [0.0, 12000.0],
        ("smb", None): [3000.25, 1000.0],
    }


async def test_cac_adds_the_sales_cost_and_divides_by_new_customers(dataset: None) -> None:
    m = await monthly("new_customers", "cac")
    # New customers: zeta (deal 4, January), acme (deal 1, February); eps was one already.
    assert total(m, "new_customers") == [1, 1]
    # January: 3000 + 1500.50 campaigns + 2000 sales; February: 1000 + 2000.
    assert total(m, "cac") == [6500.5, 3000.0]
    q = await monthly("new_customers", "cac", kind=PeriodKind.QUARTER)
    # Q1: 5500.50 + 3 x 2000, over 2 new customers.
    assert total(q, "cac") == [5750.25]
    assert total(q, "new_customers") == [2]


async def test_cac_by_campaign_uses_that_campaigns_cost_only(dataset: None) -> None:
    q = await monthly("cac", group_by=GroupBy.CAMPAIGN, kind=PeriodKind.QUARTER)
    assert q["cac"] == {
        ("(none)", None): [0.0],  # zeta came from a direct deal: no campaign cost
        ("ads-feb", None): [None],  # cost, but no customer
        ("ads-jan", None): [None],
        ("webinar-q1", None): [3000.0],  # acme, through lead 1
    }


async def test_retention(dataset: None) -> None:
    m = await monthly("retention")
    # Customers during a period are those at its start plus those won in it (#11 item 15).
    # January: delta and eps at the start, zeta won on the 20th: all stay. February: delta,
    # eps, zeta, and acme won on the 10th; delta churns on the 15th.
    assert total(m, "retention") == [1.0, 0.75]
    q = await monthly("retention", kind=PeriodKind.QUARTER)
    assert total(q, "retention") == [0.75]  # Q1: delta, eps, zeta, acme; delta churns
    s = await monthly("retention", group_by=GroupBy.SEGMENT)
    # enterprise: delta (January); delta and acme (February, delta churns). smb: eps, zeta.
    assert s["retention"] == {("enterprise", None): [1.0, 0.5], ("smb", None): [1.0, 1.0]}


async def test_a_customer_won_and_lost_in_one_period_counts_as_not_retained(
    dataset: None,
) -> None:
    await Account.create(domain="brief.com", segment="smb", customer_since=metrics_data.at(2, 2),
                         churned_at=metrics_data.at(2, 20))  # fmt: skip
    m = await monthly("retention", group_by=GroupBy.SEGMENT)
    # February smb: eps and zeta stay, brief came and went: 2 of 3.
    assert m["retention"][("smb", None)] == [1.0, 0.666667]


async def test_velocity_is_the_median_days_per_stage(dataset: None) -> None:
    m = await monthly("velocity_days")
    assert m["velocity_days"] == {
        # Leaving new in January: 4, 3, 2 and 0.5 days → (2 + 3) / 2; February 2 and 11.
        (None, "new"): [2.5, 6.5],
        (None, "engaged"): [3.0, None],  # 1, 3, 3
        (None, "mql"): [1.0, None],  # 1, 1, 1 (lead 2 recycled after one day)
        (None, "sal"): [4.0, 6.0],
        (None, "sql"): [5.0, 4.0],
        (None, "opportunity"): [None, 21.0],
    }


async def test_velocity_by_source(dataset: None) -> None:
    m = (await monthly("velocity_days", group_by=GroupBy.SOURCE))["velocity_days"]
    assert m[("webinar", "new")] == [2.0, 11.0]  # 4, 2, 0.5 in January
    assert m[("paid", "new")] == [3.0, 2.0]
    assert m[("webinar", "engaged")] == [2.0, None]  # 1 and 3


async def test_velocity_leaves_out_a_change_without_entry_time(dataset: None) -> None:
    # Written outside the services (no entered_from_at): nothing to measure from.
    await LeadStageChange.create(
        lead_id=5, from_stage="engaged", to_stage="mql", changed_at=metrics_data.at(2, 15)
    )
    m = await monthly("velocity_days")
    assert m["velocity_days"][(None, "engaged")] == [3.0, None]


async def test_cohort_funnel(dataset: None) -> None:
    cohorts = await funnel(start=JAN, end=date(2026, 2, 28))
    counts = {c.period_start: [s.count for s in c.stages] for c in cohorts}
    skipped = {c.period_start: [s.skipped for s in c.stages] for c in cohorts}
    # new, engaged, mql, sal, sql, opportunity, customer: leads that entered each stage.
    # January: lead 7 went new → mql (skipped engaged). February: lead 5 is engaged, lead 8
    # went new → sql, skipping engaged, mql and sal (#11 item 11: they are not "reached").
    assert counts == {JAN: [5, 3, 4, 2, 2, 2, 1], FEB: [3, 1, 0, 0, 1, 0, 0]}
    assert skipped == {JAN: [0, 1, 0, 0, 0, 0, 0], FEB: [0, 1, 1, 1, 0, 0, 0]}
    january = cohorts[0].stages
    assert [s.from_previous for s in january] == [None, 0.6, 4 / 3, 0.5, 1.0, 1.0, 0.5]
    assert january[-1].from_start == 0.2
    by_source = await funnel(start=JAN, end=JAN, group_by=GroupBy.SOURCE)
    assert {c.group: c.stages[2].count for c in by_source} == {"paid": 1, "webinar": 3}


async def test_weeks_start_on_monday_and_empty_periods_are_filled(dataset: None) -> None:
    series = await compute_metrics(
        names=["new_leads", "win_rate"],
        period=PeriodKind.WEEK,
        start=date(2026, 1, 1),
        end=date(2026, 1, 14),
        now=NOW,
    )
    leads, wins = series
    # Weeks of Dec 29, Jan 5 and Jan 12: leads 1 (Jan 5) and 2 (Jan 6) in the second.
    assert [p.period_start for p in leads.points] == [
        date(2025, 12, 29), date(2026, 1, 5), date(2026, 1, 12)
    ]  # fmt: skip
    assert [p.value for p in leads.points] == [0, 2, 0]
    assert [p.value for p in wins.points] == [None, None, None]


async def test_bad_queries_name_the_field(app: Starlette) -> None:
    with pytest.raises(InvalidInput) as exc:
        await compute_metrics(
            names=["new_leads"], period=PeriodKind.DAY, start=FEB, end=JAN, now=NOW
        )
    assert exc.value.field == "from"
    with pytest.raises(InvalidInput) as exc:
        await compute_metrics(names=["new_lead"], period=PeriodKind.DAY, start=JAN, end=JAN)
    assert exc.value.field == "metrics"
    assert exc.value.suggestion is not None
    assert "new_leads" in exc.value.suggestion
    with pytest.raises(InvalidInput) as exc:
        await compute_metrics(
            names=["retention"], period=PeriodKind.DAY, start=JAN, end=JAN, group_by=GroupBy.OWNER
        )
    assert exc.value.field == "groupBy"
    with pytest.raises(InvalidInput) as exc:
        periods(date(2020, 1, 1), date(2026, 1, 1), PeriodKind.DAY)
    assert exc.value.field == "period"


async def test_goal_progress_and_forecast_at_the_current_pace(dataset: None) -> None:
    goal = await set_goal(
        metric="new_leads",
        period_kind=PeriodKind.MONTH,
        start=FEB,
        target=Decimal(10),
        team=Team.MARKETING,
    )
    # On Feb 8, 7 of 28 days have passed with leads 5 (Feb 3) and 8 (Feb 1): pace 2 per 7 days.
    mid = datetime(2026, 2, 8, tzinfo=UTC)
    progress = await goal_progress(goal=goal, now=mid)
    assert (progress.actual, progress.progress, progress.elapsed) == (2, 0.2, 0.25)
    assert progress.forecast == 8.0
    # A rate does not accumulate: its forecast is its current value.
    rate = await set_goal(
        metric="win_rate",
        period_kind=PeriodKind.MONTH,
        start=FEB,
        target=Decimal("0.5"),
        team=Team.SALES,
    )
    done = await goal_progress(goal=rate, now=NOW)
    assert (done.actual, done.forecast, done.elapsed) == (0.666667, 0.666667, 1.0)
    # Setting again changes the target of the same goal.
    again = await set_goal(
        metric="new_leads",
        period_kind=PeriodKind.MONTH,
        start=FEB,
        target=Decimal(12),
        team=Team.MARKETING,
    )
    assert again.id == goal.id
    assert again.target == Decimal(12)
    listed = await list_goals(period_kind=PeriodKind.MONTH, start=JAN, end=FEB)
    assert [(g.metric, g.team) for g in listed] == [
        ("new_leads", Team.MARKETING),
        ("win_rate", Team.SALES),
    ]


async def test_goal_input_is_checked(app: Starlette) -> None:
    cases: list[tuple[str, date, Decimal, str]] = [
        ("no_such_metric", FEB, Decimal(1), "metric"),
        ("velocity_days", FEB, Decimal(1), "metric"),  # a breakdown, not a number
        ("new_leads", date(2026, 2, 2), Decimal(1), "periodStart"),
        ("new_leads", FEB, Decimal(-1), "target"),
    ]
    for metric, start, target, field in cases:
        with pytest.raises(InvalidInput) as exc:
            await set_goal(
                metric=metric,
                period_kind=PeriodKind.MONTH,
                start=start,
                target=target,
                team=Team.SHARED,
            )
        assert exc.value.field == field, metric
