"""Idempotency keys belong to the API key that used them, and a replay returns the first
response, not the lead's current state."""

from __future__ import annotations

from typing import Any

from api.enums import Role
from api.models import IdempotencyRecord, Lead
from tests.conftest import GqlFactory

UPSERT = """mutation($input: UpsertLeadInput!) {
  upsertLead(input: $input) { created lead { id title version stage } userErrors { code } } }"""
EVALUATE = """mutation($input: EvaluateLeadInput!) {
  evaluateLead(input: $input) { lead { title version } userErrors { code } } }"""
LEAD = {"email": "ida@acme.com", "title": "CTO", "idempotencyKey": "same-key"}


async def test_keys_are_scoped_per_api_key(gql_as: GqlFactory) -> None:
    integration = await gql_as(Role.INTEGRATION)
    marketing = await gql_as(Role.MARKETING)
    first: dict[str, Any] = await integration(UPSERT, input=LEAD)
    assert first["data"]["upsertLead"]["created"] is True
    other = await marketing(UPSERT, input=LEAD)
    # not the integration key's stored result: this call ran, and found the lead existing
    assert other["data"]["upsertLead"]["created"] is False
    assert await IdempotencyRecord.filter(key="same-key").count() == 2
    replay = await integration(UPSERT, input=LEAD)
    assert replay["data"] == first["data"]


async def test_a_replay_returns_the_first_response(gql_as: GqlFactory) -> None:
    integration = await gql_as(Role.INTEGRATION)
    first = await integration(UPSERT, input=LEAD)
    lead_id = first["data"]["upsertLead"]["lead"]["id"]
    await Lead.filter(email="ida@acme.com").update(title="Former CTO", version=7)
    replay = await integration(UPSERT, input=LEAD)
    assert replay["data"] == first["data"]
    assert replay["data"]["upsertLead"]["lead"]["title"] == "CTO"

    evaluated = await integration(EVALUATE, input={"leadId": lead_id, "idempotencyKey": "e-1"})
    assert evaluated["data"]["evaluateLead"]["lead"]["title"] == "Former CTO"
    await Lead.filter(email="ida@acme.com").update(title="Advisor", version=9)
    again = await integration(EVALUATE, input={"leadId": lead_id, "idempotencyKey": "e-1"})
    assert again["data"] == evaluated["data"]
