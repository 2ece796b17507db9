"""Export and erasure of one person's data, end to end through HTTP, then a scan of every
table (and on PostgreSQL a ``pg_dump`` of the test database) for what identified them."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise import Tortoise

from api.models import AuditEntry
from tests.conftest import ON_POSTGRES, GraphQLClient
from tests.schema.admin_ops import CREATE_CAMPAIGN, RECORD, UPSERT, create_rep

EMAIL = "zebedee.quantrill@bigcorp.com"
PHONE = "+1-555-0142-777"
SECRETS = ("zebedee", "quantrill", "555-0142-777", "crm-zq-1")

EXPORT = """
mutation($input: ExportLeadInput!) {
  exportLead(input: $input) { data userErrors { code message field } }
}"""
ERASE = """
mutation($input: EraseLeadInput!) {
  eraseLead(input: $input) {
    lead { id email firstName lastName externalId stage fitScore }
    userErrors { code message field }
  }
}"""
REJECT = """
mutation($input: RejectHandoffInput!) {
  rejectHandoff(input: $input) { userErrors { code message } }
}"""
HANDOFFS = "{ handoffs { edges { node { id } } } }"
METRICS = """
query($from: Date!, $to: Date!) {
  metrics(period: MONTH, from: $from, to: $to) {
    series { metric group points { periodStart value } } userErrors { code }
  }
  funnel(from: $from, to: $to) { cohorts { periodStart stages { stage count } } }
}"""


async def _person(gql: GraphQLClient) -> str:
    await create_rep(gql, email="ana@example.com", name="Ana", territory="NA",
                     segments=["enterprise"])  # fmt: skip
    await gql(CREATE_CAMPAIGN, input={"key": "webinar", "name": "Webinar", "channel": "webinar"})
    body = await gql(
        UPSERT,
        input={"email": EMAIL, "firstName": "Zebedee", "lastName": "Quantrill",
               "externalId": "crm-zq-1", "title": "VP Marketing", "seniority": "vp",
               "department": "marketing", "country": "US", "campaignKey": "webinar",
               "company": {"employeeCount": 1500, "industry": "software"},
               "idempotencyKey": f"crm-sync-{EMAIL}"},
    )  # fmt: skip
    lead_id: str = body["data"]["upsertLead"]["lead"]["id"]
    at = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    form = {"phone": PHONE, "email": EMAIL, "name": "Zebedee Quantrill", "company_size": "1500"}
    recorded = await gql(
        RECORD,
        input={"activities": [
            {"leadId": lead_id, "type": "form_submit", "occurredAt": at, "externalId": "f-1",
             "properties": form},
            {"leadId": lead_id, "type": "demo_request", "occurredAt": at,
             "externalId": f"demo-{EMAIL}"},
        ]},
    )  # fmt: skip
    assert recorded["data"]["recordActivities"]["userErrors"] == [], recorded
    [edge] = (await gql(HANDOFFS))["data"]["handoffs"]["edges"]
    rejected = await gql(
        REJECT,
        input={"handoffId": edge["node"]["id"], "reason": "bad_timing",
               "note": f"Zebedee said call {PHONE} in Q3"},
    )  # fmt: skip
    assert rejected["data"]["rejectHandoff"]["userErrors"] == [], rejected
    return lead_id


async def _database_text(database_url: str) -> str:
    """Every row of every table as text (and the whole pg_dump on PostgreSQL), lower-cased."""
    conn = Tortoise.get_connection("default")
    if ON_POSTGRES:
        tables = [r["tablename"] for r in await conn.execute_query_dict(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]  # fmt: skip
    else:
        tables = [r["name"] for r in await conn.execute_query_dict(
            "SELECT name FROM sqlite_master WHERE type = 'table'")]  # fmt: skip
    parts = []
    for table in tables:
        parts += [repr(r) for r in await conn.execute_query_dict(f'SELECT * FROM "{table}"')]
    if ON_POSTGRES:
        url = database_url.replace("postgres://", "postgresql://", 1)
        dump = await asyncio.create_subprocess_exec(
            "pg_dump", "--data-only", url, stdout=asyncio.subprocess.PIPE
        )
        out, _ = await asyncio.wait_for(dump.communicate(), timeout=120)
        assert dump.returncode == 0
        parts.append(out.decode())
    return "\n".join(parts).lower()


async def test_erasure_leaves_no_trace_of_the_person_and_no_change_in_the_metrics(
    gql: GraphQLClient, database_url: str
) -> None:
    lead_id = await _person(gql)
    evaluate = "mutation($i: EvaluateLeadInput!) { evaluateLead(input: $i) { lead { stage } } }"
    stage = (await gql(evaluate, i={"leadId": lead_id}))["data"]["evaluateLead"]["lead"]["stage"]
    before_text = await _database_text(database_url)
    assert all(s in before_text for s in SECRETS)  # the scan would find them
    month = datetime.now(UTC).date().replace(day=1)
    span = {"from": (month - timedelta(days=40)).isoformat(), "to": month.isoformat()}
    metrics_before = await gql(METRICS, **span)
    assert "errors" not in metrics_before, metrics_before

    exported = (await gql(EXPORT, input={"leadId": lead_id}))["data"]["exportLead"]
    assert exported["userErrors"] == []
    data: dict[str, Any] = exported["data"]
    assert data["lead"]["email"] == EMAIL
    assert data["activities"][0]["properties"]["phone"] == PHONE
    assert len(data["evaluations"]) >= 3
    assert data["handoffs"][0]["note"] == f"Zebedee said call {PHONE} in Q3"

    erased = await gql(ERASE, input={"leadId": lead_id, "reason": "GDPR request #42"})
    payload = erased["data"]["eraseLead"]
    assert payload["userErrors"] == [], erased
    assert payload["lead"]["email"] == "erased-1@bigcorp.com"
    assert payload["lead"]["firstName"] is None
    assert payload["lead"]["stage"] == stage  # decisions stay

    after_text = await _database_text(database_url)
    assert [s for s in SECRETS if s in after_text] == []
    assert await gql(METRICS, **span) == metrics_before
    actions = [str(a) for a in await AuditEntry.filter(subject=lead_id).values_list(
        "action", flat=True)]  # fmt: skip
    assert actions == ["lead.export", "lead.erase"]

    again = await gql(UPSERT, input={"email": EMAIL.upper()})
    [error] = again["data"]["upsertLead"]["userErrors"]
    assert (error["code"], error["field"]) == ("conflict", ["input", "email"])
    twice = await gql(ERASE, input={"leadId": lead_id, "reason": "again"})
    assert twice["data"]["eraseLead"]["userErrors"][0]["code"] == "conflict"


async def test_without_a_tombstone_the_email_can_come_back(gql: GraphQLClient) -> None:
    body = await gql(UPSERT, input={"email": "once@bigcorp.com", "firstName": "Once"})
    lead_id = body["data"]["upsertLead"]["lead"]["id"]
    done = await gql(ERASE, input={"leadId": lead_id, "reason": "cleanup", "tombstone": False})
    assert done["data"]["eraseLead"]["userErrors"] == []
    back = await gql(UPSERT, input={"email": "once@bigcorp.com"})
    assert back["data"]["upsertLead"]["userErrors"] == []
    assert back["data"]["upsertLead"]["lead"]["id"] != lead_id


async def test_erase_needs_a_reason_and_a_lead(gql: GraphQLClient) -> None:
    body = await gql(UPSERT, input={"email": "r@bigcorp.com"})
    lead_id = body["data"]["upsertLead"]["lead"]["id"]
    blank = await gql(ERASE, input={"leadId": lead_id, "reason": " "})
    assert blank["data"]["eraseLead"]["userErrors"][0]["field"] == ["input", "reason"]
    missing = await gql(ERASE, input={"leadId": "TGVhZDo5OTk=", "reason": "x"})
    assert missing["data"]["eraseLead"]["userErrors"][0]["code"] == "not_found"
    assert await AuditEntry.all().count() == 0
