"""Sales feedback changes marketing targeting: three `too_small` rejections in the SMB segment
lower fit for SMB leads, and marketing sees why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.applications import Starlette

from api.enums import Role
from api.models import SalesRep, TargetingAdjustment
from api.targeting import rescore_adjusted
from tests.conftest import GqlFactory, GraphQLClient

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


REVOKE = """
mutation($input: RevokeTargetingAdjustmentInput!) {
  revokeTargetingAdjustment(input: $input) {
    adjustment { revokedAt revokedBy revokeReason }
    userErrors { code field message }
  }
}"""
ADJUSTMENT_IDS = """
{ targetingAdjustments(activeOnly: false) { edges { node { id rule revokedAt } } } }
"""
FIT = "query($id: ID!) { lead(id: $id) { fitScore } }"


async def three_too_small_rejections(gql: GraphQLClient) -> None:
    """Three SMB MQLs rejected as too small: fb_too_small_smb fires (fit -15 for smb)."""
    await SalesRep.create(
        email="sam@leadgate.test", name="Sam", territory="NA", segments=["smb"], capacity=10
    )
    when = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    for n in range(3):
        lead = await smb_lead(gql, n)
        demo = {"leadId": lead["id"], "type": "demo_request", "occurredAt": when,
                "externalId": f"demo-{n}"}  # fmt: skip
        await gql(RECORD, input={"activities": [demo]})
        [edge] = (await gql(PENDING))["data"]["handoffs"]["edges"]
        assert (await gql(REJECT, id=edge["node"]["id"]))["data"]["rejectHandoff"][
            "userErrors"
        ] == []


async def fit_of(gql: GraphQLClient, lead_id: str) -> float:
    value: float = (await gql(FIT, id=lead_id))["data"]["lead"]["fitScore"]
    return value


async def test_adjustments_rescore_their_open_leads_when_they_appear_and_are_revoked(
    gql: GraphQLClient, gql_as: GqlFactory, app: Starlette
) -> None:
    """#11 items 8 and 9: an SMB lead with no new activity follows the adjustment's life."""
    bystander = await smb_lead(gql, 99)
    before = bystander["fitScore"]
    await three_too_small_rejections(gql)
    await app.state.jobs.idle()  # re-scoring runs in the background, batched
    assert await fit_of(gql, bystander["id"]) == before - 15

    [edge] = (await gql(ADJUSTMENT_IDS))["data"]["targetingAdjustments"]["edges"]
    adjustment = edge["node"]
    marketing = await gql_as(Role.MARKETING)
    refused = await marketing(REVOKE, input={"id": adjustment["id"], "reason": "test"})
    assert refused["errors"][0]["extensions"]["code"] == "permission_denied"
    revops = await gql_as(Role.REVOPS)
    blank = await revops(REVOKE, input={"id": adjustment["id"], "reason": " "})
    assert blank["data"]["revokeTargetingAdjustment"]["userErrors"][0]["field"] == [
        "input", "reason"
    ]  # fmt: skip
    done = await revops(
        REVOKE, input={"id": adjustment["id"], "reason": "SMB pricing changed in October"}
    )
    payload = done["data"]["revokeTargetingAdjustment"]
    assert payload["userErrors"] == []
    assert payload["adjustment"]["revokedBy"] == "key:test-revops"
    assert payload["adjustment"]["revokeReason"] == "SMB pricing changed in October"
    again = await revops(REVOKE, input={"id": adjustment["id"], "reason": "twice"})
    assert again["data"]["revokeTargetingAdjustment"]["userErrors"][0]["code"] == "conflict"
    assert (await gql(ADJUSTMENTS))["data"]["targetingAdjustments"]["totalCount"] == 0
    await app.state.jobs.idle()
    assert await fit_of(gql, bystander["id"]) == before


async def test_expiry_rescores_and_spent_evidence_never_recreates_the_adjustment(
    gql: GraphQLClient, app: Starlette
) -> None:
    """#11 items 9 and 10: expired, the adjustment's leads are re-scored by the clock job, and
    the next unrelated feedback does not recreate it from the three rejections it used."""
    bystander = await smb_lead(gql, 99)
    await three_too_small_rejections(gql)
    await app.state.jobs.idle()
    assert await fit_of(gql, bystander["id"]) == bystander["fitScore"] - 15
    # Time passes: the last re-scoring happened before the adjustment expired.
    now = datetime.now(UTC)
    await TargetingAdjustment.all().update(
        rescored_at=now - timedelta(days=60), expires_at=now - timedelta(seconds=1)
    )
    await rescore_adjusted(engine=app.state.engine)  # the periodic job
    assert await fit_of(gql, bystander["id"]) == bystander["fitScore"]

    recycle = """
    mutation($id: ID!) {
      recycleLead(input: {leadId: $id, reason: "not_ready"}) { userErrors { code } }
    }"""
    assert (await gql(recycle, id=bystander["id"]))["data"]["recycleLead"]["userErrors"] == []
    await app.state.jobs.idle()
    edges = (await gql(ADJUSTMENT_IDS))["data"]["targetingAdjustments"]["edges"]
    assert [e["node"]["rule"] for e in edges] == ["fb_too_small_smb"]  # still only the expired one
