"""Webhooks end to end: endpoints made through GraphQL, events caused through HTTP, a real
receiver on 127.0.0.1 that checks signatures, old and new values, retries and filters."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from strawberry.relay import to_base64

from api.auth import create_api_key
from api.enums import Role
from api.models import SalesRep, WebhookEndpoint
from api.webhooks.dispatcher import DeliveryPolicy, Dispatcher
from api.webhooks.signing import verify
from tests.api.webhooks.receiver import running_receiver
from tests.conftest import GraphQLClient

CREATE = """
mutation($input: CreateWebhookEndpointInput!) {
  createWebhookEndpoint(input: $input) {
    endpoint { id url events ownerIds segments stages active }
    secret
    userErrors { code field message }
  }
}"""

DELIVERIES = """
query($endpoint: ID!) {
  webhookDeliveries(endpointId: $endpoint, first: 10) {
    edges { node { id eventId eventType status attempts
                   attemptLog { statusCode error } payload } }
  }
}"""

HANDOFFS = "{ handoffs(first: 5) { edges { node { id status } } } }"
ACCEPT = """
mutation($input: AcceptHandoffInput!) {
  acceptHandoff(input: $input) { handoff { status } userErrors { code message } }
}"""
REDELIVER = """
mutation($id: ID!) {
  redeliverWebhook(deliveryId: $id) { delivery { status attempts } userErrors { code } }
}"""


async def pump(dispatcher: Dispatcher, done: Callable[[], bool], rounds: int = 200) -> None:
    """Run dispatcher rounds until ``done`` (the receiver runs in its own thread)."""
    for _ in range(rounds):
        await dispatcher.step()
        if done():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the receiver did not get what was expected")


@pytest.fixture
async def ana(app: Starlette) -> SalesRep:
    return await SalesRep.create(
        email="ana@leadgate.test", name="Ana", territory="NA", segments=["enterprise"], capacity=5,
        last_assigned_at=datetime.now(UTC) - timedelta(days=1),
    )  # fmt: skip


@pytest.fixture
async def dispatcher() -> Any:
    policy = DeliveryPolicy(timeout_s=5, retry_base_s=0.01, max_attempts=5, disable_after=50)
    worker = Dispatcher(policy=policy)
    yield worker
    await worker.close()


async def _endpoint(gql: GraphQLClient, **spec: Any) -> tuple[str, str]:
    body = await gql(CREATE, input=spec)
    payload = body["data"]["createWebhookEndpoint"]
    assert payload["userErrors"] == [], payload
    assert payload["secret"].startswith("whsec_")
    return payload["endpoint"]["id"], payload["secret"]


async def _qualify_a_lead(client: httpx.AsyncClient) -> None:
    """A VP at a 1,500-person company requests a demo: new → mql, handed to Ana."""
    _, key = await create_api_key(name="cdp", role=Role.INTEGRATION)
    batch = {
        "batch": [
            {"type": "identify", "messageId": "w-1", "userId": "vp-1",
             "traits": {"email": "vp@bigcorp.com", "title": "VP Marketing", "seniority": "vp",
                        "department": "marketing", "country": "US",
                        "company": {"name": "BigCorp", "employees": 1500,
                                    "industry": "software"}}},
            {"type": "track", "messageId": "w-2", "userId": "vp-1", "event": "Demo Requested"},
        ]
    }  # fmt: skip
    response = await client.post(
        "/ingest/segment", json=batch, headers={"Authorization": f"Bearer {key}"}
    )
    assert response.json()["summary"]["ok"] == 2, response.text


async def test_signed_deliveries_with_old_and_new_values_retries_and_filters(
    client: httpx.AsyncClient, gql: GraphQLClient, ana: SalesRep, dispatcher: Dispatcher
) -> None:
    with running_receiver() as receiver:
        wanted = ["lead.stage_changed", "handoff.created", "handoff.accepted"]
        ana_id = to_base64("SalesRep", ana.id)
        mine, secret = await _endpoint(
            gql, url=f"{receiver.url}/mine", events=wanted, ownerIds=[ana_id]
        )
        await _endpoint(gql, url=f"{receiver.url}/disqualified", stages=["DISQUALIFIED"])
        await _endpoint(gql, url=f"{receiver.url}/smb", segments=["smb"])
        other = await SalesRep.create(email="bo@leadgate.test", name="Bo", territory="EMEA")
        await _endpoint(gql, url=f"{receiver.url}/bo", ownerIds=[to_base64("SalesRep", other.id)])
        receiver.statuses = [500]  # the first delivery fails once

        await _qualify_a_lead(client)
        [edge] = (await gql(HANDOFFS))["data"]["handoffs"]["edges"]
        accepted = await gql(ACCEPT, input={"handoffId": edge["node"]["id"]})
        assert accepted["data"]["acceptHandoff"]["userErrors"] == []

        await pump(dispatcher, lambda: len(receiver.of_path("/mine")) >= 5)
        await asyncio.sleep(0.1)
        await dispatcher.step()  # nothing else may arrive, for any endpoint
        got = receiver.of_path("/mine")
        assert len(receiver.requests) == len(got) == 5

        assert all(verify(secret, r.headers, r.body) for r in got)
        ids = Counter(r.headers["webhook-id"] for r in got)
        assert sorted(ids.values()) == [1, 1, 1, 2]
        assert ids[got[0].headers["webhook-id"]] == 2  # the one that got the 500 came again
        by_id = {r.headers["webhook-id"]: r.json for r in got}
        assert Counter(b["type"] for b in by_id.values()) == Counter(
            {"lead.stage_changed": 2, "handoff.created": 1, "handoff.accepted": 1}
        )
        stage_moves = {
            (b["data"]["changes"]["stage"]["old"], b["data"]["changes"]["stage"]["new"])
            for b in by_id.values()
            if b["type"] == "lead.stage_changed"
        }
        assert stage_moves == {("new", "mql"), ("mql", "sal")}
        [accept] = [b for b in by_id.values() if b["type"] == "handoff.accepted"]
        assert accept["data"]["changes"] == {"status": {"old": "pending", "new": "accepted"}}
        assert accept["data"]["lead"]["email"] == "vp@bigcorp.com"
        assert accept["data"]["lead"]["segment"] == "enterprise"
        assert accept["data"]["handoff"]["ownerId"] == ana_id

        # The delivery log, through GraphQL: four deliveries, one with a 500 then a 200.
        log = (await gql(DELIVERIES, endpoint=mine))["data"]["webhookDeliveries"]["edges"]
        assert [e["node"]["status"] for e in log] == ["delivered"] * 4
        codes = sorted([a["statusCode"] for a in e["node"]["attemptLog"]] for e in log)
        assert codes == [[200], [200], [200], [500, 200]]

        # Manual redelivery sends the same event id again.
        again = log[0]["node"]
        redo = await gql(REDELIVER, id=again["id"])
        assert redo["data"]["redeliverWebhook"]["delivery"] == {"status": "pending", "attempts": 0}
        await pump(dispatcher, lambda: len(receiver.of_path("/mine")) >= 6)
        assert receiver.of_path("/mine")[-1].headers["webhook-id"] == again["eventId"]


async def test_an_endpoint_is_disabled_after_repeated_failures_and_can_be_enabled(
    client: httpx.AsyncClient, gql: GraphQLClient, ana: SalesRep
) -> None:
    policy = DeliveryPolicy(timeout_s=5, retry_base_s=0.01, max_attempts=3, disable_after=3)
    worker = Dispatcher(policy=policy)
    try:
        with running_receiver() as receiver:
            receiver.statuses = [500] * 100
            endpoint, _ = await _endpoint(gql, url=f"{receiver.url}/down")
            await _qualify_a_lead(client)  # two events: stage change and handoff created
            row = await WebhookEndpoint.get()
            for _ in range(100):
                await worker.step()
                await row.refresh_from_db()
                if not row.active:
                    break
                await asyncio.sleep(0.02)
            assert not row.active
            # Two deliveries fail together in each round: the second round passes the limit.
            assert row.disabled_reason == "4 failed attempts in a row"
            assert len(receiver.requests) == 4
            await asyncio.sleep(0.05)
            await worker.step()
            assert len(receiver.requests) == 4  # disabled: nothing more is sent

            receiver.statuses.clear()
            enable = await gql(
                "mutation($id: ID!) { updateWebhookEndpoint(input: {id: $id, active: true})"
                " { endpoint { active consecutiveFailures } userErrors { code } } }",
                id=endpoint,
            )
            assert enable["data"]["updateWebhookEndpoint"]["endpoint"] == {
                "active": True,
                "consecutiveFailures": 0,
            }
            log = (await gql(DELIVERIES, endpoint=endpoint))["data"]["webhookDeliveries"]
            assert [(e["node"]["status"], e["node"]["attempts"]) for e in log["edges"]] == [
                ("pending", 2),
                ("pending", 2),
            ]
            await pump(worker, lambda: len(receiver.requests) == 6)  # resumed once enabled
    finally:
        await worker.close()


async def test_endpoint_input_errors_name_the_field(gql: GraphQLClient) -> None:
    bad = await gql(CREATE, input={"url": "ftp://x", "events": ["deal.won"]})
    [error] = bad["data"]["createWebhookEndpoint"]["userErrors"]
    assert error["field"] == ["input", "url"]
    bad = await gql(CREATE, input={"url": "https://crm.example/hook", "events": ["lead.made"]})
    [error] = bad["data"]["createWebhookEndpoint"]["userErrors"]
    assert (error["code"], error["field"]) == ("invalid_input", ["input", "events"])
    assert "lead.made" in error["message"]


async def test_endpoints_are_hidden_from_other_roles(gql: GraphQLClient, gql_as: Any) -> None:
    endpoint, _ = await _endpoint(gql, url="https://crm.example/hook")
    viewer = await gql_as(Role.VIEWER)
    node = await viewer(
        "query($id: ID!) { node(id: $id) { ... on WebhookEndpoint { url } } }", id=endpoint
    )
    assert node["data"]["node"] is None
    revops = await gql_as(Role.REVOPS)
    seen = await revops(
        "query($id: ID!) { node(id: $id) { ... on WebhookEndpoint { url } } }", id=endpoint
    )
    assert seen["data"]["node"] == {"url": "https://crm.example/hook"}
