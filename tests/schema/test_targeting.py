"""Sales feedback changes marketing targeting: three `too_small` rejections in the SMB segment
lower fit for SMB leads, and marketing sees why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from api.models import SalesRep
from tests.conftest import GraphQLClient

UPSERT = """
mutation($input: UpsertLeadInput!) {
  upsertLead(input: $input) { lead { id fitScore } userErrors { code message } }
}"""
RECORD = """
mutation($input: RecordActivitiesInput!) {
  recordActivities(input: $input) { evaluations { stageAfter } userErrors { code } }
}"""
PENDING = "{ handoffs(status: PENDING) { edges { node { id } } } }"
REJECT = """
mutation($id: ID!) {
  rejectHandoff(input: {handoffId: $id, reason: "too_small"}) { userErrors { code message } }
}"""
ADJUSTMENTS = """
{ targetingAdjustments {
    totalCount edges { node { rule score delta scopeKind scopeValue causedBy reason } } } }
"""


async def smb_lead(gql: GraphQLClient, n: int) -> dict[str, Any]:
    body = await gql(
        UPSERT,
        input={
            "email": f"head{n}@tiny{n}.io",
            "title": "Head of Sales",
            "seniority": "director",
            "department": "sales",
            "country": "US",
            "company": {"employeeCount": 40},
        },
    )
    lead: dict[str, Any] = body["data"]["upsertLead"]["lead"]
    return lead


async def test_three_too_small_rejections_lower_fit_for_the_smb_segment(
    gql: GraphQLClient,
) -> None:
    await SalesRep.create(
        email="sam@leadgate.test", name="Sam", territory="NA", segments=["smb"], capacity=10
    )
    when = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    fits = []
    for n in range(3):
        lead = await smb_lead(gql, n)
        fits.append(lead["fitScore"])
        demo = {"leadId": lead["id"], "type": "demo_request", "occurredAt": when,
                "externalId": f"demo-{n}"}  # fmt: skip
        body = await gql(RECORD, input={"activities": [demo]})
        assert body["data"]["recordActivities"]["evaluations"] == [{"stageAfter": "MQL"}]
        [edge] = (await gql(PENDING))["data"]["handoffs"]["edges"]
        rejected = await gql(REJECT, id=edge["node"]["id"])
        assert rejected["data"]["rejectHandoff"]["userErrors"] == []
        if n < 2:
            assert (await gql(ADJUSTMENTS))["data"]["targetingAdjustments"]["totalCount"] == 0

    [edge] = (await gql(ADJUSTMENTS))["data"]["targetingAdjustments"]["edges"]
    adjustment = edge["node"]
    assert adjustment["rule"] == "fb_too_small_smb"
    assert (adjustment["score"], adjustment["delta"]) == ("fit", -15)
    assert (adjustment["scopeKind"], adjustment["scopeValue"]) == ("segment", "smb")
    assert len(adjustment["causedBy"]) == 3
    # Global ids of Feedback that node() resolves (they were database integers before #14).
    for feedback_id in adjustment["causedBy"]:
        node = await gql(
            "query($id: ID!) { node(id: $id) { __typename ... on Feedback { kind reasonCode } } }",
            id=feedback_id,
        )
        assert node["data"]["node"] == {
            "__typename": "Feedback", "kind": "REJECTED", "reasonCode": "too_small"
        }  # fmt: skip

    fourth = await smb_lead(gql, 3)
    assert fourth["fitScore"] == fits[0] - 15
