"""One API shape: every stored entity is reachable by its global id through node(), ids that
point at rows are global ids, and growing lists are connections with a total."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from strawberry.relay import to_base64

from api.models import Goal, RulebookVersion
from api.settings import DEMO_RULES_DIR
from rules import content_version, read_rulebook_files
from tests.conftest import GraphQLClient
from tests.schema.admin_ops import CREATE_CAMPAIGN, RECORD, create_rep

NODE = """
query($id: ID!) { node(id: $id) { __typename id } }
"""
LEAD = """
query($id: ID!) {
  lead(id: $id) {
    evaluations(first: 1) { totalCount edges { node { id } } pageInfo { hasNextPage } }
    stageHistory { totalCount edges { node { id fromStage toStage applied actor } } }
    activities { totalCount edges { node { id type } } }
  }
}"""
UPSERT = """
mutation($input: UpsertLeadInput!) { upsertLead(input: $input) { lead { id } } }
"""


async def resolves(gql: GraphQLClient, global_id: str, type_name: str) -> None:
    body = await gql(NODE, id=global_id)
    assert body["data"]["node"] == {"__typename": type_name, "id": global_id}, body


async def test_every_entity_resolves_by_global_id(gql: GraphQLClient) -> None:
    rep = await create_rep(gql, email="ana@example.com", name="Ana", territory="NA",
                           segments=["enterprise"])  # fmt: skip
    await resolves(gql, rep["id"], "SalesRep")
    made = await gql(CREATE_CAMPAIGN, input={"key": "c", "name": "C", "channel": "paid",
                                             "cost": "10"})  # fmt: skip
    campaign = made["data"]["createCampaign"]["campaign"]
    await resolves(gql, campaign["id"], "Campaign")
    costs = await gql(
        "query($id: ID!) { node(id: $id) { ... on Campaign { costEntries { edges { node { id } } } } } }",  # noqa: E501
        id=campaign["id"],
    )
    [cost] = costs["data"]["node"]["costEntries"]["edges"]
    await resolves(gql, cost["node"]["id"], "CampaignCost")

    person = {"email": "vp@bigcorp.com", "country": "US", "seniority": "vp", "title": "VP Sales",
              "company": {"employeeCount": 1500}}  # fmt: skip
    body = await gql(UPSERT, input=person)
    lead_id = body["data"]["upsertLead"]["lead"]["id"]
    when = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    recorded = await gql(
        RECORD,
        input={"activities": [{"leadId": lead_id, "type": "demo_request", "occurredAt": when,
                               "externalId": "a-1"}]},
    )  # fmt: skip
    activity_id = recorded["data"]["recordActivities"]["results"][0]["activityId"]
    await resolves(gql, activity_id, "Activity")  # was the database integer before #14

    lead: dict[str, Any] = (await gql(LEAD, id=lead_id))["data"]["lead"]
    assert lead["evaluations"]["totalCount"] == 2
    assert lead["evaluations"]["pageInfo"]["hasNextPage"] is True
    [move] = lead["stageHistory"]["edges"]
    assert (move["node"]["fromStage"], move["node"]["toStage"]) == ("NEW", "MQL")
    await resolves(gql, move["node"]["id"], "LeadStageChange")
    assert lead["activities"]["totalCount"] == 1

    audit = await gql("{ auditEntries { totalCount edges { node { id action subject } } } }")
    entries = audit["data"]["auditEntries"]
    assert entries["totalCount"] == 3  # rep.create, campaign.create, campaign.cost
    assert entries["edges"][-1]["node"]["subject"] == rep["id"]
    await resolves(gql, entries["edges"][0]["node"]["id"], "AuditEntry")


async def test_goal_and_rulebook_are_nodes(gql: GraphQLClient) -> None:
    goal = await Goal.create(metric="new_leads", period_kind="month",
                             period_start=datetime.now(UTC).date().replace(day=1), target=10,
                             team="marketing")  # fmt: skip
    goal_id = to_base64("Goal", goal.id)
    await resolves(gql, goal_id, "Goal")  # node(Goal:1) was null, Goal.id an Int
    book = (await gql("{ rulebook { id version rules { name } } }"))["data"]["rulebook"]
    await resolves(gql, book["id"], "Rulebook")
    assert book["id"] == to_base64("Rulebook", book["version"])
    # A stored, older version resolves from its own files.
    files = read_rulebook_files(DEMO_RULES_DIR)
    files["sla.yaml"] += b"\n# an older revision\n"
    old = await RulebookVersion.create(
        version=content_version(files), files={k: v.decode() for k, v in files.items()}
    )
    older = await gql(
        "query($id: ID!) { node(id: $id) { ... on Rulebook { version rules { name } } } }",
        id=to_base64("Rulebook", old.version),
    )
    assert older["data"]["node"]["version"] == old.version != book["version"]
    assert older["data"]["node"]["rules"] == book["rules"]
    unknown = await gql(NODE, id=to_base64("Rulebook", "0" * 64))
    assert unknown["data"]["node"] is None
