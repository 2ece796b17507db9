"""Leads through HTTP: create, read back, validation errors, pagination."""

from __future__ import annotations

import asyncio
import base64

import pytest
from tortoise.functions import Max

from api.models import Account, Evaluation, Lead, SalesRep
from tests.conftest import GraphQLClient, SqlCounter

UPSERT = """
mutation Upsert($input: UpsertLeadInput!) {
  upsertLead(input: $input) {
    created
    lead { id email firstName stage version account { domain segment employeeCount } }
    userErrors { code message field suggestion }
  }
}
"""

LEAD = """
query Lead($id: ID!) { lead(id: $id) { id email firstName account { domain } } }
"""


async def test_create_lead_and_read_it_back(gql: GraphQLClient) -> None:
    body = await gql(
        UPSERT,
        input={
            "email": "  Ada.Lovelace@Analytical.io ",
            "firstName": "Ada",
            "company": {"employeeCount": 250, "name": "Analytical"},
        },
    )
    payload = body["data"]["upsertLead"]
    assert payload["userErrors"] == []
    assert payload["created"] is True
    lead = payload["lead"]
    assert lead["email"] == "ada.lovelace@analytical.io"
    assert lead["stage"] == "NEW"
    assert lead["account"] == {
        "domain": "analytical.io",
        "segment": "mid_market",
        "employeeCount": 250,
    }

    read = await gql(LEAD, id=lead["id"])
    assert read["data"]["lead"] == {
        "id": lead["id"],
        "email": "ada.lovelace@analytical.io",
        "firstName": "Ada",
        "account": {"domain": "analytical.io"},
    }


async def test_upsert_same_email_updates_and_bumps_version(gql: GraphQLClient) -> None:
    first = await gql(UPSERT, input={"email": "bo@acme.com", "firstName": "Bo"})
    version = first["data"]["upsertLead"]["lead"]["version"]
    body = await gql(UPSERT, input={"email": "BO@acme.com", "firstName": "Bob"})
    payload = body["data"]["upsertLead"]
    assert payload["created"] is False
    assert payload["lead"]["firstName"] == "Bob"
    assert payload["lead"]["version"] == version + 1  # the evaluation changed nothing more
    same = await gql(UPSERT, input={"email": "bo@acme.com", "firstName": "Bob"})
    assert same["data"]["upsertLead"]["lead"]["version"] == version + 1
    assert await Lead.all().count() == 1


async def test_free_mail_lead_has_no_account(gql: GraphQLClient) -> None:
    body = await gql(UPSERT, input={"email": "someone@gmail.com"})
    assert body["data"]["upsertLead"]["lead"]["account"] is None
    assert await Account.all().count() == 0


@pytest.mark.parametrize(
    ("bad_input", "field"),
    [
        ({"email": "not-an-email"}, ["input", "email"]),
        ({"email": "x@acme.com", "country": "USA"}, ["input", "country"]),
        ({"email": "x@acme.com", "company": {"employeeCount": -3}}, None),
        ({"email": "x@acme.com", "campaignKey": "nope"}, ["input", "campaignKey"]),
    ],
)
async def test_invalid_input_is_a_typed_error_and_writes_nothing(
    gql: GraphQLClient, bad_input: dict[str, object], field: list[str] | None
) -> None:
    body = await gql(UPSERT, input=bad_input)
    payload = body["data"]["upsertLead"]
    assert payload["lead"] is None
    [error] = payload["userErrors"]
    assert error["code"] == "invalid_input"
    if field is not None:
        assert error["field"] == field
    else:
        assert error["field"] == ["input", "company", "employeeCount"]
    assert await Lead.all().count() == 0
    assert await Account.all().count() == 0


@pytest.mark.parametrize(
    ("bad_input", "named"),
    [
        ({"email": "x@acme.com", "favouriteColour": "red"}, "favouriteColour"),
        ({"email": "x@acme.com", "company": {"employeeCount": "many"}}, "employeeCount"),
        ({"firstName": "no email"}, "email"),
    ],
)
async def test_unknown_fields_and_wrong_types_are_rejected_by_name(
    gql: GraphQLClient, bad_input: dict[str, object], named: str
) -> None:
    body = await gql(UPSERT, input=bad_input)
    assert body.get("data") is None
    assert named in body["errors"][0]["message"]
    assert await Lead.all().count() == 0


async def test_leads_pages_with_cursors(gql: GraphQLClient) -> None:
    for i in range(5):
        await gql(UPSERT, input={"email": f"p{i}@acme.com"})
    query = """
    query Page($after: String) {
      leads(first: 2, after: $after) {
        edges { cursor node { email } }
        pageInfo { hasNextPage endCursor }
      }
    }"""
    seen: list[str] = []
    after = None
    while True:
        page = (await gql(query, after=after))["data"]["leads"]
        seen += [e["node"]["email"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == [f"p{i}@acme.com" for i in reversed(range(5))]


async def test_page_size_is_capped(gql: GraphQLClient) -> None:
    body = await gql("{ leads(first: 101) { edges { cursor } } }")
    assert "first must be between 1 and 100" in body["errors"][0]["message"]


@pytest.mark.postgres
async def test_concurrent_upserts_of_one_email_yield_one_lead(gql: GraphQLClient) -> None:
    results = await asyncio.gather(
        *(gql(UPSERT, input={"email": "race@acme.com", "firstName": f"R{i}"}) for i in range(8))
    )
    assert all(r["data"]["upsertLead"]["userErrors"] == [] for r in results)
    assert sum(r["data"]["upsertLead"]["created"] for r in results) == 1
    assert await Lead.filter(email="race@acme.com").count() == 1
    assert await Account.filter(domain="acme.com").count() == 1


async def _bulk_leads(n: int) -> None:
    """Setup data straight in the database: n leads, each with an account, owner, evaluation."""
    rep = await SalesRep.create(email="rep@leadgate.test", name="Rep", territory="NA")
    await Account.bulk_create([Account(domain=f"co{i}.com") for i in range(n)])
    accounts = dict(await Account.all().values_list("domain", "id"))
    await Lead.bulk_create(
        [
            Lead(email=f"l{i}@co{i}.com", account_id=accounts[f"co{i}.com"], owner_id=rep.id)
            for i in range(n)
        ]
    )
    lead_ids = await Lead.all().values_list("id", flat=True)
    report = {"stage": {"from_stage": "new", "to_stage": None}, "sla": None,
              "routing": {"route": None, "rep_id": None, "why": "no route"}}  # fmt: skip
    await Evaluation.bulk_create(
        [
            Evaluation(
                lead_id=lead_id,
                rulebook_version="v",
                trigger="api",
                input={},
                outcome=report,
                stage_before="new",
                stage_after="new",
                duration_ms=1.0,
            )
            for lead_id in lead_ids
            for _ in range(2)
        ]
    )
    # What the evaluation writers keep: each lead points at its decision in force.
    newest = Evaluation.annotate(last=Max("id")).group_by("lead_id").values_list("lead_id", "last")
    for lead_id, last in await newest:
        await Lead.filter(id=lead_id).update(last_evaluation_id=last)


async def test_statements_for_a_page_do_not_grow_with_its_size(
    gql: GraphQLClient, sql_counter: SqlCounter
) -> None:
    await _bulk_leads(60)
    query = """
    query($first: Int) {
      leads(first: $first) {
        edges { node { email account { domain } owner { name }
                       latestEvaluation { stageAfter report { headline } } } }
      }
    }"""
    await gql("{ viewer { role } }")  # the key's first use records lastUsedAt (once a minute)
    counts = []
    await gql(query, first=1)  # loads the rulebook version "why not" replays on, once
    for first in (5, 50):
        sql_counter.reset()
        body = await gql(query, first=first)
        edges = body["data"]["leads"]["edges"]
        assert len(edges) == first
        assert all(e["node"]["latestEvaluation"] is not None for e in edges)
        counts.append(len(sql_counter.statements))
    assert counts[0] == counts[1], sql_counter.statements
    # the API key; leads joined with accounts and owners; lean records; whole ones for the
    # headlines not computed before (tests/schema/test_lead_page.py)
    assert counts[1] <= 4


async def test_node_resolves_global_ids_for_client_caches(gql: GraphQLClient) -> None:
    created = await gql(UPSERT, input={"email": "node@acme.com"})
    lead_id = created["data"]["upsertLead"]["lead"]["id"]
    body = await gql(
        "query($id: ID!) { node(id: $id) { __typename id ... on Lead { email } } }", id=lead_id
    )
    assert body["data"]["node"] == {"__typename": "Lead", "id": lead_id, "email": "node@acme.com"}
    missing = await gql('{ node(id: "TGVhZDo5OTk5OTk=") { id } }')
    assert missing["data"]["node"] is None


async def test_leads_order_by_score_pages_through_ties_without_gaps(gql: GraphQLClient) -> None:
    rep = await SalesRep.create(email="o@leadgate.test", name="O", territory="NA")
    fits = [30.0, 80.0, 55.5, 80.0, 10.0, 55.5, 80.0]
    await Lead.bulk_create(
        [
            Lead(email=f"s{i}@acme.com", fit_score=fit, source="webinar" if i % 2 else "seo",
                 owner_id=rep.id if i < 4 else None)
            for i, fit in enumerate(fits)
        ]
    )  # fmt: skip
    ids = {email: i for email, i in await Lead.all().values_list("email", "id")}
    query = """
    query($after: String, $order: LeadOrder!, $source: String, $owner: ID) {
      leads(first: 2, after: $after, orderBy: $order, source: $source, ownerId: $owner) {
        edges { node { email fitScore } }
        pageInfo { hasNextPage endCursor }
      }
    }"""

    async def all_pages(**variables: object) -> list[str]:
        seen: list[str] = []
        after = None
        while True:
            body = await gql(query, after=after, **variables)
            page = body["data"]["leads"]
            seen += [e["node"]["email"] for e in page["edges"]]
            if not page["pageInfo"]["hasNextPage"]:
                return seen
            after = page["pageInfo"]["endCursor"]

    by_fit = sorted(ids, key=lambda e: (-fits[int(e[1])], -ids[e]))
    assert await all_pages(order="FIT_SCORE") == by_fit
    assert await all_pages(order="OLDEST") == sorted(ids, key=ids.__getitem__)
    webinar = [e for e in by_fit if int(e[1]) % 2]
    assert await all_pages(order="FIT_SCORE", source="webinar") == webinar
    owner = base64.b64encode(f"SalesRep:{rep.id}".encode()).decode()
    owned = [e for e in sorted(ids, key=ids.__getitem__, reverse=True) if int(e[1]) < 4]
    assert await all_pages(order="NEWEST", owner=owner) == owned

    first = await gql(query, order="FIT_SCORE")
    cursor = first["data"]["leads"]["pageInfo"]["endCursor"]
    mixed = await gql(query, order="OLDEST", after=cursor)
    assert "another ordering" in mixed["errors"][0]["message"]
