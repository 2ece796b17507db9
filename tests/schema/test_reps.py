"""Sales reps through HTTP: create, list with load, change, deactivate with re-routing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from api.models import AuditEntry, DomainEvent, Handoff, Lead
from tests.conftest import GraphQLClient
from tests.schema.admin_ops import DEACTIVATE_REP, RECORD, REPS, UPDATE_REP, UPSERT, create_rep


async def mql(gql: GraphQLClient, email: str, country: str = "US") -> str:
    body = await gql(
        UPSERT,
        input={"email": email, "title": "VP Marketing", "seniority": "vp",
               "department": "marketing", "country": country,
               "company": {"employeeCount": 1500, "industry": "software"}},
    )  # fmt: skip
    lead_id: str = body["data"]["upsertLead"]["lead"]["id"]
    when = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    recorded = await gql(
        RECORD,
        input={"activities": [{"leadId": lead_id, "type": "demo_request", "occurredAt": when,
                               "externalId": f"demo-{email}"}]},
    )  # fmt: skip
    [evaluation] = recorded["data"]["recordActivities"]["evaluations"]
    assert evaluation["stageAfter"] == "MQL", recorded
    return lead_id


async def reps(gql: GraphQLClient, **variables: Any) -> dict[str, Any]:
    body = await gql(REPS, **variables)
    assert "errors" not in body, body
    result: dict[str, Any] = body["data"]["reps"]
    return result


async def test_deactivating_a_rep_reroutes_their_pending_handoffs_by_the_rules(
    gql: GraphQLClient,
) -> None:
    ana = await create_rep(gql, email="ana@reps.example.com", name="Ana", territory="NA",
                           segments=["enterprise"], capacity=5)  # fmt: skip
    await mql(gql, "one@bigcorp.com")
    await mql(gql, "two@bigcorp.com")
    ben = await create_rep(gql, email="ben@reps.example.com", name="Ben", territory="NA",
                           segments=["enterprise"], capacity=1)  # fmt: skip
    await create_rep(gql, email="emil@reps.example.com", name="Emil", territory="EMEA",
                     segments=["enterprise"], capacity=5)  # fmt: skip
    listed = await reps(gql)
    assert listed["totalCount"] == 3
    load = {e["node"]["email"]: e["node"]["openHandoffs"] for e in listed["edges"]}
    assert load == {
        "ana@reps.example.com": 2,
        "ben@reps.example.com": 0,
        "emil@reps.example.com": 0,
    }

    body = await gql(DEACTIVATE_REP, input={"repId": ana["id"]})
    payload = body["data"]["deactivateRep"]
    assert payload["userErrors"] == [], body
    assert payload["rep"] == {"id": ana["id"], "active": False, "openHandoffs": 1}
    # Ben has room for one: the second handoff has no eligible rep (EMEA does not match a US
    # lead) and stays, with an event for the people who watch unrouted leads.
    owners = [r["newOwner"]["email"] if r["newOwner"] else None for r in payload["rerouted"]]
    assert owners == ["ben@reps.example.com", None]
    assert "no active rep with free capacity" in payload["rerouted"][1]["why"]
    moved = await Handoff.get(id=1)
    assert moved.owner_id == 2  # type: ignore[attr-defined]
    assert (await Lead.get(email="one@bigcorp.com")).owner_id == 2  # type: ignore[attr-defined]
    assert await DomainEvent.filter(kind="handoff_unrouted").count() == 1
    [entry] = await AuditEntry.filter(action="rep.deactivate")
    assert entry.subject == ana["id"]
    assert entry.details["rerouted"] == [
        {"handoff": payload["rerouted"][0]["handoffId"], "to": ben["id"]},
        {"handoff": payload["rerouted"][1]["handoffId"], "to": None},
    ]
    inactive = await reps(gql, active=False)
    assert [e["node"]["email"] for e in inactive["edges"]] == ["ana@reps.example.com"]


async def test_update_changes_only_what_is_sent_and_is_audited(gql: GraphQLClient) -> None:
    ana = await create_rep(
        gql, email="ana@reps.example.com", name="Ana", territory="NA", capacity=5
    )
    body = await gql(UPDATE_REP, input={"repId": ana["id"], "capacity": 9, "segments": ["smb"]})
    payload = body["data"]["updateRep"]
    assert payload["userErrors"] == [], body
    assert payload["rep"] == {
        "id": ana["id"], "territory": "NA", "segments": ["smb"], "capacity": 9, "active": True
    }  # fmt: skip
    [entry] = await AuditEntry.filter(action="rep.update")
    assert entry.details["after"] == {"segments": ["smb"], "capacity": 9}
    assert entry.actor == "key:test-admin"


async def test_rep_input_errors_name_the_field(gql: GraphQLClient) -> None:
    await create_rep(gql, email="ana@reps.example.com", name="Ana", territory="NA")
    from tests.schema.admin_ops import CREATE_REP

    cases: list[tuple[dict[str, Any], list[str], str]] = [
        ({"email": "nope", "name": "A", "territory": "NA"}, ["input", "email"], "invalid_input"),
        ({"email": "b@reps.example.com", "name": " ", "territory": "NA"}, ["input", "name"],
         "invalid_input"),
        ({"email": "b@reps.example.com", "name": "B", "territory": "NA", "capacity": -1},
         ["input", "capacity"], "invalid_input"),
        ({"email": "ANA@reps.example.com", "name": "A", "territory": "NA"}, ["input", "email"],
         "conflict"),
    ]  # fmt: skip
    for fields, path, code in cases:
        body = await gql(CREATE_REP, input=fields)
        [error] = body["data"]["createRep"]["userErrors"]
        assert (error["field"], error["code"]) == (path, code), body
    wrong = await gql(UPDATE_REP, input={"repId": "TGVhZDox", "capacity": 1})  # a Lead id
    assert wrong["data"]["updateRep"]["userErrors"][0]["field"] == ["input", "repId"]
    assert await AuditEntry.all().count() == 1


async def test_reps_page_with_a_total(gql: GraphQLClient) -> None:
    for i in range(3):
        await create_rep(gql, email=f"r{i}@reps.example.com", name=f"R{i}", territory="NA")
    first = await reps(gql, first=2)
    assert first["totalCount"] == 3
    assert first["pageInfo"]["hasNextPage"] is True
    rest = await reps(gql, first=2, after=first["pageInfo"]["endCursor"])
    assert [e["node"]["email"] for e in rest["edges"]] == ["r2@reps.example.com"]
    assert rest["totalCount"] == 3
