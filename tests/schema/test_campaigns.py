"""Campaigns through HTTP, and the whole admin path from an empty database to a CAC."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from api.models import AuditEntry, CampaignCost
from tests.conftest import GraphQLClient
from tests.schema.admin_ops import ADD_COST, CREATE_CAMPAIGN, RECORD, UPSERT, create_rep

ACCEPT = """
mutation($input: AcceptHandoffInput!) {
  acceptHandoff(input: $input) { handoff { status } userErrors { code message } }
}"""
HANDOFFS = """
{ handoffs { totalCount edges { node { id status owner { email } lead { email } } } } }
"""
CREATE_DEAL = """
mutation($input: CreateDealInput!) {
  createDeal(input: $input) { deal { id version } userErrors { code message field } }
}"""
CLOSE_DEAL = """
mutation($input: CloseDealInput!) {
  closeDeal(input: $input) { deal { stage } userErrors { code message field } }
}"""
CAC = """
query($from: Date!, $to: Date!, $groupBy: MetricGroupBy) {
  metrics(period: MONTH, from: $from, to: $to, names: ["cac"], groupBy: $groupBy) {
    series { group points { periodStart value } }
    userErrors { code message }
  }
}"""
CAMPAIGNS = """
{ campaigns { totalCount edges { node { key cost leadCount
    costEntries { totalCount edges { node { amount incurredOn } } } } } } }
"""


def month_start(day: date) -> date:
    return day.replace(day=1)


async def test_from_an_empty_database_graphql_alone_gives_routed_handoffs_and_a_cac(
    gql: GraphQLClient,
) -> None:
    this_month = month_start(datetime.now(UTC).date())
    last_month = month_start(this_month - timedelta(days=1))
    ana = await create_rep(
        gql, email="Ana@Example.com", name="Ana", territory="NA",
        segments=["enterprise"], capacity=5,
    )  # fmt: skip
    assert ana["email"] == "ana@example.com"
    assert ana["openHandoffs"] == 0
    body = await gql(
        CREATE_CAMPAIGN,
        input={"key": "webinar-q1", "name": "Q1 webinar", "channel": "webinar",
               "startsOn": last_month.isoformat(), "budget": "5000", "cost": "1000"},
    )  # fmt: skip
    created = body["data"]["createCampaign"]
    assert created["userErrors"] == [], body
    campaign = created["campaign"]
    assert campaign["cost"] == "1000.00"
    spent = await gql(
        ADD_COST,
        input={"campaignId": campaign["id"], "amount": "2500.50",
               "incurredOn": this_month.isoformat(), "note": "ads"},
    )  # fmt: skip
    assert spent["data"]["addCampaignCost"]["userErrors"] == [], spent
    assert spent["data"]["addCampaignCost"]["campaign"]["cost"] == "3500.50"

    upsert = await gql(
        UPSERT,
        input={"email": "vp@bigcorp.com", "firstName": "Vera", "title": "VP Marketing",
               "seniority": "vp", "department": "marketing", "country": "US",
               "campaignKey": "webinar-q1",
               "company": {"employeeCount": 1500, "industry": "software", "name": "BigCorp"}},
    )  # fmt: skip
    lead = upsert["data"]["upsertLead"]
    assert lead["userErrors"] == [], upsert
    now = datetime.now(UTC) - timedelta(seconds=1)
    recorded = await gql(
        RECORD,
        input={"activities": [{"leadId": lead["lead"]["id"], "type": "demo_request",
                               "occurredAt": now.isoformat(), "externalId": "d-1"}]},
    )  # fmt: skip
    [evaluation] = recorded["data"]["recordActivities"]["evaluations"]
    assert evaluation["stageAfter"] == "MQL"
    assert evaluation["report"]["routing"]["repId"] == ana["id"]  # a global id, not "1"
    route = next(f for f in evaluation["report"]["fired"] if f["name"] == "route_na_enterprise")
    assert route["effect"] == "route route_na_enterprise → ana@example.com"

    handoffs = (await gql(HANDOFFS))["data"]["handoffs"]
    assert handoffs["totalCount"] == 1
    handoff = handoffs["edges"][0]["node"]
    assert handoff["owner"]["email"] == "ana@example.com"
    accepted = await gql(ACCEPT, input={"handoffId": handoff["id"]})
    assert accepted["data"]["acceptHandoff"]["userErrors"] == [], accepted
    deal = await gql(
        CREATE_DEAL,
        input={"name": "BigCorp seats", "amount": "12000", "leadId": lead["lead"]["id"]},
    )
    made = deal["data"]["createDeal"]
    assert made["userErrors"] == [], deal
    won = await gql(
        CLOSE_DEAL,
        input={"dealId": made["deal"]["id"], "outcome": "WON",
               "expectedVersion": made["deal"]["version"]},
    )  # fmt: skip
    assert won["data"]["closeDeal"]["userErrors"] == [], won

    span = {"from": last_month.isoformat(), "to": this_month.isoformat()}
    cac = await gql(CAC, **span)
    [series] = cac["data"]["metrics"]["series"]
    points = {p["periodStart"]: p["value"] for p in series["points"]}
    # One new customer this month; this month's CAC counts only this month's cost entry (the
    # initial cost is an entry on last month's start day; no sales cost is configured).
    assert points[this_month.isoformat()] == 2500.50
    by_campaign = await gql(CAC, groupBy="CAMPAIGN", **span)
    points = {
        p["periodStart"]: p["value"] for s in by_campaign["data"]["metrics"]["series"]
        if s["group"] == "webinar-q1" for p in s["points"]
    }  # fmt: skip
    # By campaign CAC is cumulative (#11): both entries so far, over its one customer so far.
    assert points[this_month.isoformat()] == 3500.50
    campaigns = (await gql(CAMPAIGNS))["data"]["campaigns"]
    assert campaigns["totalCount"] == 1
    listed = campaigns["edges"][0]["node"]
    assert listed["leadCount"] == 1
    assert listed["costEntries"]["totalCount"] == 2
    assert await CampaignCost.all().count() == 2
    actions = await AuditEntry.all().order_by("id").values_list("action", flat=True)
    assert [str(a) for a in actions] == [
        "rep.create",
        "campaign.create",
        "campaign.cost",
        "campaign.cost",
    ]


async def test_campaign_input_errors_name_the_field(gql: GraphQLClient) -> None:
    cases: list[tuple[dict[str, Any], list[str]]] = [
        ({"key": "Bad Key", "name": "x", "channel": "paid"}, ["input", "key"]),
        ({"key": "ok", "name": "x", "channel": "paid", "budget": "-1"}, ["input", "budget"]),
        ({"key": "ok", "name": "x", "channel": "paid", "currency": "usd"}, ["input", "currency"]),
        ({"key": "ok", "name": "x", "channel": "paid", "startsOn": "2026-02-01",
          "endsOn": "2026-01-01"}, ["input", "endsOn"]),
    ]  # fmt: skip
    for fields, path in cases:
        body = await gql(CREATE_CAMPAIGN, input=fields)
        [error] = body["data"]["createCampaign"]["userErrors"]
        assert error["field"] == path, (fields, body)
    ok = await gql(CREATE_CAMPAIGN, input={"key": "ok", "name": "x", "channel": "paid"})
    assert ok["data"]["createCampaign"]["userErrors"] == []
    dup = await gql(CREATE_CAMPAIGN, input={"key": "ok", "name": "y", "channel": "paid"})
    assert dup["data"]["createCampaign"]["userErrors"][0]["code"] == "conflict"
    assert await AuditEntry.all().count() == 1  # refused changes write nothing
