"""Segment-spec ingest through HTTP: identify, group, track, bad items, replays, keys."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from api.auth import create_api_key
from api.enums import Role
from api.evaluations import unpack_input
from api.ingest.segment import event_types
from api.ingest.service import ingest
from api.models import Account, Activity, Evaluation, IngestedMessage, Lead
from tests.conftest import SqlCounter


@pytest.fixture
async def key(app: Starlette) -> str:
    _, token = await create_api_key(name="cdp", role=Role.INTEGRATION)
    return token


def _ts(days_ago: float = 0) -> str:
    return (datetime.now(UTC) - timedelta(days=days_ago)).isoformat()


def _batch() -> dict[str, Any]:
    return {
        "batch": [
            {
                "type": "identify",
                "messageId": "m-identify",
                "userId": "u-1",
                "traits": {
                    "email": "Ada@Acme.example",
                    "firstName": "Ada",
                    "lastName": "Lovelace",
                    "title": "VP Engineering",
                    "address": {"country": "us"},
                    "plan": "trial",
                },
                "timestamp": _ts(1),
            },
            {
                "type": "group",
                "messageId": "m-group",
                "userId": "u-1",
                "groupId": "g-acme",
                "traits": {
                    "name": "Acme",
                    "website": "https://www.acme.example",
                    "employees": 1500,
                    "industry": "software",
                },
            },
            {
                "type": "track",
                "messageId": "m-demo",
                "userId": "u-1",
                "event": "Demo Requested",
                "properties": {"form": "contact-sales"},
                "timestamp": _ts(0.5),
            },
            {"type": "track", "messageId": "m-cart", "userId": "u-1", "event": "Cart Abandoned"},
            {"type": "track", "messageId": "m-noevent", "userId": "u-1"},
            {
                "type": "track",
                "messageId": "m-ghost",
                "userId": "nobody",
                "event": "Demo Requested",
            },
            "not a call",
        ]
    }


async def _post(client: httpx.AsyncClient, key: str, body: Any, path: str = "") -> httpx.Response:
    return await client.post(
        f"/ingest/segment{path}", json=body, headers={"Authorization": f"Bearer {key}"}
    )


async def test_a_batch_stores_good_calls_and_reports_bad_ones(
    client: httpx.AsyncClient, key: str
) -> None:
    response = await _post(client, key, _batch())
    assert response.status_code == 200
    body = response.json()
    statuses = [(r["messageId"], r["status"]) for r in body["results"]]
    assert statuses == [
        ("m-identify", "ok"),
        ("m-group", "ok"),
        ("m-demo", "ok"),
        ("m-cart", "ignored"),
        ("m-noevent", "error"),
        ("m-ghost", "error"),
        (None, "error"),
    ]
    assert body["summary"] == {"ok": 3, "duplicate": 0, "ignored": 1, "error": 3}
    assert body["success"] is False
    errors = {r["index"]: r["error"] for r in body["results"] if r["error"]}
    assert errors[4]["field"] == "batch.4.event"
    assert errors[5]["code"] == "not_found"
    assert errors[6]["field"] == "batch.6.type"
    assert "Cart Abandoned" in body["results"][3]["warning"]

    lead = await Lead.get(email="ada@acme.example")
    assert (lead.external_id, lead.first_name, lead.title, lead.country) == (
        "u-1", "Ada", "VP Engineering", "US"
    )  # fmt: skip
    assert lead.properties == {"plan": "trial"}
    account = await Account.get(id=lead.account_id)  # type: ignore[attr-defined]
    assert (account.domain, account.name, account.segment) == ("acme.example", "Acme", "enterprise")
    activities = await Activity.filter(lead_id=lead.id)
    assert [(a.type, a.source, a.external_id) for a in activities] == [
        ("demo_request", "segment", "segment:m-demo")
    ]
    ignored = await IngestedMessage.get(message_id="m-cart")
    assert ignored.status == "ignored"
    assert ignored.payload is not None
    assert ignored.payload["event"] == "Cart Abandoned"
    # The lead was evaluated once for the whole batch, with the demo request in its facts.
    evaluations = await Evaluation.filter(lead_id=lead.id)
    assert len(evaluations) == 1
    assert body["evaluated"] == 1
    facts = unpack_input(evaluations[0].input).activities  # stored packed since #9
    assert any(a.type == "demo_request" for a in facts)


async def test_a_replayed_message_id_is_a_duplicate(client: httpx.AsyncClient, key: str) -> None:
    first = (await _post(client, key, _batch())).json()
    lead = await Lead.get(email="ada@acme.example")
    replay = (await _post(client, key, _batch())).json()
    assert [r["status"] for r in replay["results"]] == [
        "duplicate", "duplicate", "duplicate", "duplicate", "error", "error", "error"
    ]  # fmt: skip
    assert replay["results"][2]["leadId"] == first["results"][2]["leadId"]
    assert await Activity.filter(lead_id=lead.id).count() == 1
    assert await Evaluation.filter(lead_id=lead.id).count() == 1  # nothing new to evaluate
    assert replay["evaluated"] == 0
    # The same messageId twice in one batch is stored once.
    twice = {
        "batch": [{"type": "track", "messageId": "m-2", "userId": "u-1", "event": "Email Opened"}]
        * 2
    }
    result = (await _post(client, key, twice)).json()
    assert [r["status"] for r in result["results"]] == ["ok", "duplicate"]
    assert await Activity.filter(lead_id=lead.id, type="email_open").count() == 1


async def test_single_calls_and_segment_sdk_paths(client: httpx.AsyncClient, key: str) -> None:
    basic = base64.b64encode(f"{key}:".encode()).decode()
    identify = {"messageId": "s-1", "userId": "u-9", "traits": {"email": "bo@gmail.com"}}
    response = await client.post(
        "/ingest/segment/v1/identify", json=identify, headers={"Authorization": f"Basic {basic}"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["results"][0]["status"] == "ok"
    page = {"type": "page", "messageId": "s-2", "userId": "u-9", "name": "Pricing"}
    assert (await _post(client, key, page)).json()["summary"]["ok"] == 1
    lead = await Lead.get(external_id="u-9")
    assert lead.account_id is None  # type: ignore[attr-defined]  # free mail: no account
    assert await Activity.filter(lead_id=lead.id, type="page_view").count() == 1


async def test_keys_roles_and_unusable_bodies(client: httpx.AsyncClient, key: str) -> None:
    assert (await client.post("/ingest/segment", json={"batch": []})).status_code == 401
    _, sales = await create_api_key(name="rep", role=Role.SALES)
    refused = await _post(client, sales, {"batch": []})
    assert refused.status_code == 403
    assert "sales" in refused.json()["error"]["message"]
    bad = await client.post(
        "/ingest/segment", content=b"{nope", headers={"Authorization": f"Bearer {key}"}
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["field"] == "body"
    too_many = await _post(client, key, {"batch": [{}] * 1001})
    assert too_many.status_code == 400
    assert too_many.json()["error"]["field"] == "batch"


async def test_ingest_queries_do_not_grow_with_the_batch(
    app: Starlette, sql_counter: SqlCounter
) -> None:
    """Batched intake: 10 and 60 calls cost the same number of statements."""
    types = event_types({})

    def calls(n: int, tag: str) -> dict[str, Any]:
        identify = [
            {"type": "identify", "messageId": f"{tag}-i{i}", "userId": f"{tag}{i}",
             "traits": {"email": f"{tag}{i}@corp{i}.example", "company": {"employees": 50}}}
            for i in range(n)
        ]  # fmt: skip
        track = [
            {"type": "track", "messageId": f"{tag}-t{i}", "userId": f"{tag}{i}",
             "event": "Form Submitted"}
            for i in range(n)
        ]  # fmt: skip
        return {"batch": identify + track}

    counts = []
    for n, tag in ((10, "a"), (60, "b")):
        sql_counter.reset()
        result = await ingest(body=calls(n, tag), event_types=types, engine=None)
        assert result.as_json()["summary"]["ok"] == 2 * n
        counts.append(len(sql_counter.statements))
    assert counts[0] == counts[1]
    assert await Activity.all().count() == 70
