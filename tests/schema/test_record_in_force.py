"""evaluateLead when the decision in force has no record behind it: a proper payload naming a
record (this evaluation's, written now), never an internal error, and the lead points at it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from strawberry.relay import GlobalID

from api.models import Evaluation, Lead
from tests.conftest import GraphQLClient
from tests.schema.test_qualification import EVALUATE, create_vp


async def _evaluate(gql: GraphQLClient, lead_id: str) -> dict[str, Any]:
    body = await gql(EVALUATE, input={"leadId": lead_id})
    assert "errors" not in body, body
    payload: dict[str, Any] = body["data"]["evaluateLead"]
    assert payload["userErrors"] == [], payload
    return payload


async def _removed(lead: Lead, other: Lead) -> None:
    await Evaluation.filter(id=lead.last_evaluation_id).delete()


async def _unset(lead: Lead, other: Lead) -> None:
    await Lead.filter(id=lead.id).update(last_evaluation_id=None)


async def _another_leads(lead: Lead, other: Lead) -> None:
    await Lead.filter(id=lead.id).update(last_evaluation_id=other.last_evaluation_id)


async def _another_version(lead: Lead, other: Lead) -> None:
    await Evaluation.filter(id=lead.last_evaluation_id).update(rulebook_version="retired")


@pytest.mark.parametrize(
    "break_it",
    [_removed, _unset, _another_leads, _another_version],
    ids=["removed", "no-pointer", "another-leads", "another-version"],
)
async def test_a_decision_in_force_without_its_record_is_recorded_again(
    gql: GraphQLClient, break_it: Callable[[Lead, Lead], Awaitable[None]]
) -> None:
    lead = await create_vp(gql)
    other = await create_vp(gql, "vp@othercorp.com")
    await _evaluate(gql, other["id"])
    first = await _evaluate(gql, lead["id"])  # the decision in force: no new record
    row = await Lead.get(id=raw_id(lead["id"]))
    assert row.decision is not None
    assert first["evaluation"]["id"] is not None
    await break_it(row, await Lead.get(id=raw_id(other["id"])))
    before = await Evaluation.filter(lead_id=row.id).count()

    payload = await _evaluate(gql, lead["id"])

    assert await Evaluation.filter(lead_id=row.id).count() == before + 1
    record = await Evaluation.filter(lead_id=row.id).order_by("-id").first()
    assert record is not None
    assert payload["evaluation"]["id"] == raw_evaluation_id(record.id)
    assert payload["report"]["headline"]
    after = await Lead.get(id=row.id)
    assert after.last_evaluation_id == record.id
    assert after.decision == row.decision  # the same decision, now with its record
    again = await _evaluate(gql, lead["id"])  # in force and backed: nothing more is written
    assert again["evaluation"]["id"] == payload["evaluation"]["id"]
    assert await Evaluation.filter(lead_id=row.id).count() == before + 1


def raw_id(global_id: str) -> int:
    return int(GlobalID.from_id(global_id).node_id)


def raw_evaluation_id(record_id: int) -> str:
    return str(GlobalID("Evaluation", str(record_id)))


async def test_a_replayed_key_whose_record_is_gone_is_a_typed_error(gql: GraphQLClient) -> None:
    lead = await create_vp(gql)
    await Lead.all().update(decision=None)  # this evaluation records
    first = await gql(EVALUATE, input={"leadId": lead["id"], "idempotencyKey": "k1"})
    record_id = raw_id(first["data"]["evaluateLead"]["evaluation"]["id"])
    await Evaluation.filter(id=record_id).delete()

    body = await gql(EVALUATE, input={"leadId": lead["id"], "idempotencyKey": "k1"})

    assert "errors" not in body, body
    [error] = body["data"]["evaluateLead"]["userErrors"]
    assert (error["code"], error["field"]) == ("not_found", ["input", "idempotencyKey"])
