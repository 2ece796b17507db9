"""Campaign cost and CAC.

Money spent on a campaign is booked on the day of each cost entry (``addCampaignCost``). A
campaign without entries (the demo seed, databases from before entries) has its ``cost`` spread
evenly over the days it runs (``starts_on..ends_on``; without an end date it is booked on its
start day, or its creation day without a start). A period carries the part spent in it.

CAC without grouping is per period: (campaign cost spent in the period + the sales cost of the
period) / new customers of the period. By campaign, customers come weeks or months after the
spend, so a per-period ratio is never meaningful (cost in the launch month, customers later):
CAC by campaign is cumulative, the campaign's cost spent up to the period's end over the
customers it acquired (first touch of the winning lead) up to the period's end; null until its
first customer. The sales cost is not split by campaign.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from api.metrics.measures import new_customers
from api.metrics.periods import GroupBy, Window, months_in, next_period
from api.metrics.sql import Compute, Row, as_date, dialect, fetch, num
from api.models import Campaign, CampaignCost

ZERO = Decimal(0)


async def _campaigns(until: date) -> list[tuple[str, date, date, Decimal]]:
    """(key, first day, last day, cents) of every spend before ``until``: one per cost entry
    (a single day), or the campaign's whole cost over its run when it has no entries."""
    entries = await CampaignCost.filter(incurred_on__lt=until).values_list(
        "campaign_id", "incurred_on", "amount"
    )
    with_entries = set(await CampaignCost.all().distinct().values_list("campaign_id", flat=True))
    rows = await Campaign.all().values_list(
        "id", "key", "starts_on", "ends_on", "created_at", "cost"
    )
    keys = {int(cid): str(key) for cid, key, *_ in rows}
    out = [(keys[int(cid)], day, day, Decimal(amount) * 100) for cid, day, amount in entries]
    for cid, key, starts_on, ends_on, created_at, cost in rows:
        first = starts_on or as_date(created_at)
        if cid in with_entries or first >= until:
            continue
        last = max(ends_on or first, first)
        out.append((str(key), first, last, Decimal(cost) * 100))
    return out


def _spent(first: date, last: date, cents: Decimal, begin: date, end: date) -> Decimal:
    """The part of a campaign's cost spent in ``begin..end`` (end exclusive)."""
    days = (last - first).days + 1
    overlap = (min(last + timedelta(days=1), end) - max(first, begin)).days
    return cents * max(overlap, 0) / days


async def campaign_costs(w: Window) -> dict[tuple[date, str | None], Decimal]:
    """Cost spent per period and group (the campaign key, or None), in cents."""
    by_campaign = w.group_by == GroupBy.CAMPAIGN
    out: dict[tuple[date, str | None], Decimal] = {}
    for key, first, last, cents in await _campaigns(next_period(w.starts[-1], w.kind)):
        for start in w.starts:
            spent = _spent(first, last, cents, start, next_period(start, w.kind))
            if spent:
                k = (start, key if by_campaign else None)
                out[k] = out.get(k, ZERO) + spent
    return out


async def _customers_before(begin: date) -> dict[str | None, Decimal]:
    """Customers each campaign acquired before ``begin`` (the deal that made the account a
    customer closed on its customer_since day)."""
    d = dialect()
    start = "$1::timestamptz" if d.postgres else "julianday(?1)"
    sql = (
        "SELECT gc.key AS g, COUNT(DISTINCT d.account_id) AS n FROM deal d "
        "JOIN account a ON a.id = d.account_id LEFT JOIN lead l ON l.id = d.lead_id "
        "LEFT JOIN campaign gc ON gc.id = l.first_campaign_id "
        "WHERE d.stage = 'closed_won' AND a.customer_since IS NOT NULL "
        f"AND {d.day_of('a.customer_since')} = {d.day_of('d.closed_at')} "
        f"AND {d.ts('a.customer_since')} < {start} GROUP BY 1"
    )
    rows = await fetch(sql, [begin])
    return {r["g"]: num(r["n"]) for r in rows}


def cac(sales_cost_per_month: Decimal) -> Compute:
    async def compute(w: Window) -> list[Row]:
        costs = await campaign_costs(w)
        customers = {(p, g): n for p, g, _, n, _ in await new_customers(w)}
        if w.group_by == GroupBy.CAMPAIGN:
            return await _cumulative(w, customers)
        for start in w.starts:
            sales = sales_cost_per_month * months_in(start, w.kind) * 100
            costs[(start, None)] = costs.get((start, None), ZERO) + sales
        keys = sorted(costs.keys() | customers.keys(), key=lambda k: (k[0], k[1] or ""))
        return [(p, g, None, costs.get((p, g), ZERO), customers.get((p, g), ZERO)) for p, g in keys]

    return compute


async def _cumulative(w: Window, customers: dict[tuple[date, str | None], Decimal]) -> list[Row]:
    campaigns = await _campaigns(next_period(w.starts[-1], w.kind))
    acquired = await _customers_before(w.starts[0])
    groups = {key for key, *_ in campaigns} | {g for _, g in customers} | set(acquired)
    rows: list[Row] = []
    for group in sorted(groups, key=lambda g: g or ""):
        total = acquired.get(group, ZERO)
        for start in w.starts:
            end = next_period(start, w.kind)
            total += customers.get((start, group), ZERO)
            spent = sum(
                (_spent(first, last, cents, first, end) for key, first, last, cents in campaigns
                 if key == group),
                ZERO,
            )  # fmt: skip
            if total or spent:
                rows.append((start, group, None, spent, total))
    return rows
