"""Subscriptions over graphql-transport-ws against a real server socket.

The server runs in the test's event loop (uvicorn, lifespan already running), so it shares
the database connections; events written to the database by anyone reach the subscriber.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from api.auth import create_api_key
from api.enums import Role
from api.models import DomainEvent, Evaluation, Lead, SalesRep
from tests.conftest import GraphQLClient

PROTOCOL = "graphql-transport-ws"


@pytest.fixture
async def ws_url(app: Starlette) -> AsyncIterator[str]:
    config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110  (uvicorn exposes a flag, not an event)
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"ws://127.0.0.1:{port}/graphql"
    server.should_exit = True
    await task


async def open_session(url: str, token: str | None) -> ClientConnection:
    ws = await connect(url, subprotocols=[PROTOCOL])  # type: ignore[list-item]
    payload = {"Authorization": f"Bearer {token}"} if token else {}
    await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
    return ws


async def next_message(ws: ClientConnection) -> dict[str, Any]:
    async with asyncio.timeout(5):
        message: dict[str, Any] = json.loads(await ws.recv())
    return message


async def subscribe(ws: ClientConnection, query: str, **variables: Any) -> None:
    ack = await next_message(ws)
    assert ack["type"] == "connection_ack", ack
    await ws.send(
        json.dumps(
            {"id": "1", "type": "subscribe", "payload": {"query": query, "variables": variables}}
        )
    )
    await asyncio.sleep(0.3)  # let the subscription register before events happen


@pytest.fixture
async def rep() -> SalesRep:
    return await SalesRep.create(
        email="ana@leadgate.test", name="Ana", territory="NA", segments=["enterprise"]
    )


async def make_mql(gql: GraphQLClient) -> None:
    body = await gql(
        """mutation($input: UpsertLeadInput!) { upsertLead(input: $input) { lead { id } } }""",
        input={
            "email": "vp@bigcorp.com",
            "title": "VP Sales",
            "seniority": "vp",
            "country": "US",
            "company": {"employeeCount": 5000, "industry": "software"},
        },
    )
    lead_id = body["data"]["upsertLead"]["lead"]["id"]
    when = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    await gql(
        """mutation($input: RecordActivitiesInput!) {
             recordActivities(input: $input) { userErrors { code } } }""",
        input={
            "activities": [
                {"leadId": lead_id, "type": "demo_request", "occurredAt": when, "externalId": "d"}
            ]
        },
    )


HANDOFFS = "subscription { handoffs { status priority lead { email } owner { email } } }"


async def test_a_reps_key_hears_about_its_new_handoff(
    ws_url: str, gql: GraphQLClient, rep: SalesRep
) -> None:
    _, token = await create_api_key(name="ana", role=Role.SALES, rep_email=rep.email)
    ws = await open_session(ws_url, token)
    try:
        await subscribe(ws, HANDOFFS)
        await make_mql(gql)
        message = await next_message(ws)
        assert message["type"] == "next", message
        assert message["payload"]["data"]["handoffs"] == {
            "status": "PENDING",
            "priority": "p1",
            "lead": {"email": "vp@bigcorp.com"},
            "owner": {"email": "ana@leadgate.test"},
        }
    finally:
        await ws.close()


async def test_events_written_by_another_worker_reach_the_subscriber(
    ws_url: str, gql: GraphQLClient, rep: SalesRep
) -> None:
    """Fan-out goes through the database: a row inserted elsewhere is delivered."""
    await make_mql(gql)
    lead = await Lead.get(email="vp@bigcorp.com")
    _, token = await create_api_key(name="viewer", role=Role.VIEWER)
    ws = await open_session(ws_url, token)
    try:
        global_id = base64.b64encode(f"Lead:{lead.id}".encode()).decode()
        await subscribe(
            ws, "subscription($id: ID!) { evaluations(leadId: $id) { stageAfter } }", id=global_id
        )
        evaluation = await Evaluation.filter(lead_id=lead.id).order_by("-id").first()
        assert evaluation is not None
        # as another server process would: a plain INSERT, no in-process signal
        await DomainEvent.create(
            kind="evaluation", subject_id=lead.id, payload={"id": evaluation.id}
        )
        message = await next_message(ws)
        assert message["payload"]["data"]["evaluations"] == {"stageAfter": "MQL"}
    finally:
        await ws.close()


async def test_connections_without_a_valid_key_are_rejected(ws_url: str) -> None:
    for token in (None, "lg_nope_nope"):
        ws = await open_session(ws_url, token)
        with pytest.raises(ConnectionClosed) as closed:
            await next_message(ws)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4403


async def test_a_reps_key_cannot_follow_another_reps_handoffs(ws_url: str, rep: SalesRep) -> None:
    other = await SalesRep.create(email="ben@leadgate.test", name="Ben", territory="NA")
    _, token = await create_api_key(name="ben", role=Role.SALES, rep_email=other.email)
    ws = await open_session(ws_url, token)
    try:
        ana = base64.b64encode(f"SalesRep:{rep.id}".encode()).decode()
        await subscribe(ws, "subscription($o: ID) { handoffs(ownerId: $o) { status } }", o=ana)
        message = await next_message(ws)
        assert message["type"] in {"error", "next"}
        errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
        assert "only follow that rep" in json.dumps(errors)
    finally:
        await ws.close()
