"""Bad input gets a typed error naming the field, never ``internal_error``, and writes nothing."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from api.auth import create_api_key
from api.enums import Role
from api.models import Activity, ApiKey, Deal, Lead
from schema.columns import string_limit
from schema.pagination import encode_cursor

UPSERT = """mutation($input: UpsertLeadInput!) {
  upsertLead(input: $input) { lead { id } userErrors { code field message } } }"""
DEAL = """mutation($input: CreateDealInput!) {
  createDeal(input: $input) { deal { id } userErrors { code field message } } }"""
ACTIVITIES = """mutation($input: RecordActivitiesInput!) {
  recordActivities(input: $input) { results { index } userErrors { code field message } } }"""
REVOKE = """mutation($input: RevokeApiKeyInput!) {
  revokeApiKey(input: $input) { apiKey { name } userErrors { code field message } } }"""


def gid(type_name: str, node_id: str) -> str:
    return base64.b64encode(f"{type_name}:{node_id}".encode()).decode()


@pytest.fixture
async def post(client: httpx.AsyncClient) -> Any:
    """Posts a raw JSON text (so NaN and 1e309 reach the server as written)."""
    _, token = await create_api_key(name="guard", role=Role.ADMIN)

    async def send(query: str, variables_json: str = "{}") -> dict[str, Any]:
        body = f'{{"query": {json.dumps(query)}, "variables": {variables_json}}}'
        response = await client.post(
            "/graphql",
            content=body.encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        result: dict[str, Any] = response.json()
        return result

    return send


def _user_error(body: dict[str, Any], field: str) -> dict[str, Any]:
    assert "errors" not in body, body
    (payload,) = body["data"].values()
    (error,) = payload["userErrors"]
    assert error["code"] == "invalid_input", error
    return dict(error)


@pytest.mark.parametrize(
    ("lead", "field"),
    [
        ({"title": "t" * (string_limit("UpsertLeadInput", "title") + 1)}, ["input", "title"]),
        ({"firstName": "x" * 101}, ["input", "firstName"]),
        ({"externalId": "e" * 201}, ["input", "externalId"]),
        ({"source": "s" * 51}, ["input", "source"]),
        ({"country": "FRA"}, ["input", "country"]),
        ({"company": {"name": "n" * 201}}, ["input", "company", "name"]),
        ({"company": {"website": "w" * 250 + ".com"}}, ["input", "company", "website"]),
        ({"idempotencyKey": "k" * 201}, ["input", "idempotencyKey"]),
        ({"campaignKey": "c" * 101}, ["input", "campaignKey"]),
        ({"lastName": "nul\u0000byte"}, ["input", "lastName"]),
        ({"title": "\u0000"}, ["input", "title"]),
        ({"company": {"industry": "a\u0000"}}, ["input", "company", "industry"]),
    ],
)
async def test_upsert_lead_rejects_long_and_nul_strings(
    post: Any, lead: dict[str, Any], field: list[str]
) -> None:
    variables = json.dumps({"input": {"email": "ada@acme.com", **lead}})
    error = _user_error(await post(UPSERT, variables), field[-1])
    assert error["field"] == field
    assert await Lead.all().count() == 0  # nothing half-written


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ('"NaN"', "finite"),
        ('"Infinity"', "finite"),
        ('"-Infinity"', "finite"),
        ('"1e308"', "below"),
        ('"100000000000000"', "below"),
    ],
)
async def test_create_deal_rejects_non_finite_and_huge_amounts(
    post: Any, amount: str, message: str
) -> None:
    variables = (
        f'{{"input": {{"name": "Big", "amount": {amount}, "accountId": "{gid("Account", "1")}"}}}}'
    )
    error = _user_error(await post(DEAL, variables), "amount")
    assert error["field"] == ["input", "amount"]
    assert message in error["message"]
    assert await Deal.all().count() == 0


def _activity(lead_id: str, **extra: str) -> str:
    fields = {
        "leadId": f'"{lead_id}"',
        "type": '"page_view"',
        "occurredAt": '"2026-11-01T10:00:00+00:00"',
        "externalId": '"a-1"',
        **extra,
    }
    item = ", ".join(f'"{k}": {v}' for k, v in fields.items())
    return f'{{"input": {{"activities": [{{{item}}}]}}}}'


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"properties": '{"score": NaN}'}, "properties"),
        ({"properties": '{"big": 1e309}'}, "properties"),
        ({"properties": '{"deep": [1, {"x": -Infinity}]}'}, "properties"),
        ({"properties": '{"text": "a\\u0000b"}'}, "properties"),
        ({"occurredAt": '"0001-01-01T00:00:00+00:00"'}, "occurredAt"),
        ({"occurredAt": '"9999-12-31T23:59:59-23:00"'}, "occurredAt"),
        ({"type": json.dumps("t" * 51)}, "type"),
    ],
)
async def test_record_activities_rejects_bad_json_and_dates(
    post: Any, extra: dict[str, str], field: str
) -> None:
    lead = await Lead.create(email="ada@acme.com")
    body = await post(ACTIVITIES, _activity(gid("Lead", str(lead.id)), **extra))
    error = _user_error(body, field)
    assert error["field"] == ["input", "activities", "0", field]
    assert await Activity.all().count() == 0


async def test_revoke_api_key_with_a_long_prefix_is_a_user_error(post: Any) -> None:
    error = _user_error(await post(REVOKE, json.dumps({"input": {"prefix": "p" * 17}})), "prefix")
    assert error["field"] == ["input", "prefix"]
    assert await ApiKey.filter(revoked_at__not_isnull=True).count() == 0


@pytest.mark.parametrize(
    "query",
    [
        f'{{ lead(id: "{gid("Lead", "abc")}") {{ id }} }}',
        f'{{ lead(id: "{gid("Lead", "2147483648")}") {{ id }} }}',
        f'{{ evaluation(id: "{gid("Evaluation", "abc")}") {{ id }} }}',
        f'{{ deal(id: "{gid("Deal", "99999999999999999999")}") {{ id }} }}',
        f'{{ node(id: "{gid("Rulebook", "not-a-sha256")}") {{ id }} }}',
        f'{{ node(id: "{gid("Rulebook", "1")}") {{ id }} }}',
        f'{{ leads(after: "{encode_cursor("lead", "newest:2147483648")}") {{ edges {{ cursor }} }} }}',  # noqa: E501
        f'{{ deals(after: "{encode_cursor("deal", 2**31)}") {{ edges {{ cursor }} }} }}',
        f'{{ handoffs(after: "{encode_cursor("handoff", 2**40)}") {{ edges {{ cursor }} }} }}',
        "{ leads(first: 101) { edges { cursor } } }",
    ],
)
async def test_queries_with_bad_ids_and_cursors_get_invalid_input(post: Any, query: str) -> None:
    body = await post(query)
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "invalid_input", error
    assert error["extensions"]["field"]


async def test_every_error_has_a_code_and_no_suggestions(post: Any) -> None:
    body = await post(
        "query($s: LifecycleStage) { leads(stage: $s) { edges { cursor } } }", '{"s": "MQLL"}'
    )
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "graphql_validation_failed"
    assert "Did you mean" not in error["message"]
    assert "'MQL'" not in error["message"]
    syntax = await post("{ leads { ")
    assert syntax["errors"][0]["extensions"]["code"] == "graphql_parse_failed"
    unknown = await post("{ leed { id } }")
    assert unknown["errors"][0]["extensions"]["code"] == "graphql_validation_failed"
    assert "Did you mean" not in unknown["errors"][0]["message"]
