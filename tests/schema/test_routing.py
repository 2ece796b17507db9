"""Leads that reach the handoff stage while no rep can take them (#11 item 4): they are a
visible queue (query and metric), and routing is retried when capacity frees up or reps change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.applications import Starlette
from strawberry.relay import to_base64

from api.enums import HandoffStatus, LifecycleStage
from api.models import DomainEvent, Handoff, Lead, SalesRep
from tests.conftest import GraphQLClient

UPSERT = """
mutation($input: UpsertLeadInput!) {
  upsertLead(input: $input) { lead { id } userErrors { code message } }
}"""
RECORD = """
mutation($input: RecordActivitiesInput!) {
  recordActivities(input: $input) { evaluations { stageAfter } userErrors { code } }
}"""
QUEUE = "{ unroutedLeads { edges { node { email stage owner { email } } } } }"
ACCEPT = """
mutation($id: ID!) { acceptHandoff(input: {handoffId: $id}) { userErrors { code message } } }
"""
UNROUTED_METRIC = """
query($from: Date!, $to: Date!) {
  metrics(names: ["unrouted_leads"], period: MONTH, from: $from, to: $to) {
    series { points { value } } userErrors { message }
  }
}"""


async def mql(gql: GraphQLClient, n: int) -> str:
    """A US enterprise VP with a demo request: an MQL the NA enterprise route wants."""
    body = await gql(
        UPSERT,
        input={
            "email": f"vp{n}@big{n}.com",
            "title": "VP Marketing",
            "seniority": "vp",
            "department": "marketing",
            "country": "US",
            "company": {"employeeCount": 1500, "industry": "software"},
        },
    )
    lead_id: str = body["data"]["upsertLead"]["lead"]["id"]
    when = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    demo = {"leadId": lead_id, "type": "demo_request", "occurredAt": when, "externalId": f"d{n}"}
    done = await gql(RECORD, input={"activities": [demo]})
    assert done["data"]["recordActivities"]["evaluations"] == [{"stageAfter": "MQL"}]
    return lead_id


async def queue(gql: GraphQLClient) -> list[dict[str, Any]]:
    body = await gql(QUEUE)
    return [e["node"] for e in body["data"]["unroutedLeads"]["edges"]]


async def unrouted_metric(gql: GraphQLClient) -> float:
    today = datetime.now(UTC).date()
    body = await gql(UNROUTED_METRIC, **{"from": str(today), "to": str(today)})
    [series] = body["data"]["metrics"]["series"]
    value: float = series["points"][-1]["value"]
    return value


async def test_an_mql_without_reps_waits_in_a_queue_and_is_routed_when_a_rep_arrives(
    gql: GraphQLClient, app: Starlette
) -> None:
    await mql(gql, 1)
    assert await queue(gql) == [{"email": "vp1@big1.com", "stage": "MQL", "owner": None}]
    assert await unrouted_metric(gql) == 1
    assert await DomainEvent.filter(kind="handoff_unrouted").count() == 1

    await SalesRep.create(email="ana@leadgate.test", name="Ana", territory="NA",
                          segments=["enterprise"], capacity=5)  # fmt: skip
    await app.state.router.retry(app.state.engine)  # the routing job (clock, rep changes)
    assert await queue(gql) == []
    assert await unrouted_metric(gql) == 0
    lead = await Lead.get(email="vp1@big1.com")
    assert lead.stage == LifecycleStage.MQL
    assert lead.owner_id is not None  # type: ignore[attr-defined]
    assert await Handoff.filter(lead_id=lead.id, status=HandoffStatus.PENDING).count() == 1
    # Retrying with nothing changed writes nothing.
    assert await app.state.router.retry(app.state.engine) is None


async def test_a_decided_handoff_frees_capacity_for_the_next_waiting_lead(
    gql: GraphQLClient, app: Starlette
) -> None:
    await SalesRep.create(email="ana@leadgate.test", name="Ana", territory="NA",
                          segments=["enterprise"], capacity=1)  # fmt: skip
    await mql(gql, 1)
    await mql(gql, 2)
    assert [n["email"] for n in await queue(gql)] == ["vp2@big2.com"]
    [handoff] = await Handoff.all()
    accepted = await gql(ACCEPT, id=to_base64("Handoff", handoff.id))
    assert accepted["data"]["acceptHandoff"]["userErrors"] == []
    await app.state.jobs.idle()  # re-routing runs in the background after the decision
    assert await queue(gql) == []
    second = await Lead.get(email="vp2@big2.com")
    assert second.owner_id is not None  # type: ignore[attr-defined]
    assert await Handoff.filter(lead_id=second.id, status=HandoffStatus.PENDING).count() == 1
