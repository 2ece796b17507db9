"""evaluateLead's one-statement read of a lead (api.facts.read_lead): the same account,
campaign and record in force as separate reads give, a changed row seen even when it changed
while the lock was awaited, and a re-evaluation deciding the same in three statements."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from strawberry.relay import GlobalID
from tortoise.transactions import in_transaction

from api.facts import LeadRead, build_inputs, read_lead
from api.models import Account, Evaluation, Lead
from tests.api.lead_data import ANCHOR, lead_with_account_and_campaign
from tests.conftest import GraphQLClient, SqlCounter
from tests.schema.test_qualification import EVALUATE

FIELDS = ("id", "lead_id", "rulebook_version", "trigger", "input", "fired", "contributions",
          "scores", "stage_before", "stage_after", "owner_id", "sla_deadline", "outcome",
          "duration_ms", "next_change_at", "created_at")  # fmt: skip


def _gid(lead: Lead) -> str:
    return str(GlobalID("Lead", str(lead.id)))


def _fields(row: Evaluation) -> dict[str, Any]:
    return {name: getattr(row, name) for name in FIELDS}


async def _evaluate(gql: GraphQLClient, lead: Lead) -> dict[str, Any]:
    body = await gql(EVALUATE, input={"leadId": _gid(lead)})
    assert "errors" not in body, body
    payload: dict[str, Any] = body["data"]["evaluateLead"]
    assert payload["userErrors"] == [], payload
    return payload


async def test_the_read_equals_separate_reads(gql: GraphQLClient) -> None:
    lead, _ = await lead_with_account_and_campaign(12)
    free = await Lead.create(email="solo@gmail.com")  # no account, no campaign, no record
    leads = [*await Lead.all().order_by("id").limit(5), await Lead.get(id=lead.id), free]
    for row in leads[:4]:
        await _evaluate(gql, row)
    for row in leads:
        row = await Lead.get(id=row.id)
        read = await read_lead(row.id, lock=False)
        assert read is not None
        [expected] = (await build_inputs(leads=[row], now=ANCHOR, lookback_days=90)).values()
        assert (read.account, read.campaign) == (expected.account, expected.lead.campaign)
        assert {k: getattr(read.lead, k) for k in row._meta.fields_db_projection} == {
            k: getattr(row, k) for k in row._meta.fields_db_projection
        }
        if row.last_evaluation_id is None:
            assert (read.record, read.record_in_force()) == (None, None)
            continue
        stored = await Evaluation.get(id=row.last_evaluation_id)
        assert read.record == (stored.id, row.id, stored.rulebook_version)
        in_force = read.record_in_force()
        assert in_force is not None
        assert _fields(in_force) == _fields(stored)
    assert await read_lead(10**9, lock=False) is None


async def test_an_erased_leads_record_is_read_again(gql: GraphQLClient) -> None:
    lead, _ = await lead_with_account_and_campaign(3)
    await _evaluate(gql, lead)
    await Lead.filter(id=lead.id).update(erased_at=ANCHOR)
    read = await read_lead(lead.id, lock=False)
    assert read is not None
    assert read.record is not None
    assert read.record_in_force() is None  # the caller reads it after the lock


async def test_a_reevaluation_deciding_the_same_takes_three_statements(
    gql: GraphQLClient, sql_counter: SqlCounter
) -> None:
    lead, _ = await lead_with_account_and_campaign(3)
    first = await _evaluate(gql, lead)
    sql_counter.statements.clear()
    again = await _evaluate(gql, lead)
    assert again["evaluation"] == first["evaluation"]
    background = ("api_key", "webhook", 'FROM "domain_event"')  # the key check, the dispatcher
    statements = [s for s in sql_counter.statements if not any(b in s for b in background)]
    # the lead with its lock, account, campaign and record; activities with adjustments;
    # the lead's scores and times (main: 6)
    assert len(statements) == 3, statements


@pytest.mark.postgres
async def test_a_change_made_while_the_lock_is_awaited_is_seen(gql: GraphQLClient) -> None:
    lead, _ = await lead_with_account_and_campaign(3)
    await _evaluate(gql, lead)
    lead = await Lead.get(id=lead.id)
    copy = await Evaluation.get(id=lead.last_evaluation_id)
    newer = await Evaluation.create(**{k: getattr(copy, k) for k in FIELDS if k != "id"})
    smb = await Account.create(domain="small.example", name="Small", segment="smb")
    locked = asyncio.Event()

    async def read_locked() -> LeadRead | None:
        await locked.wait()
        async with in_transaction():
            return await read_lead(lead.id, lock=True)

    reader = asyncio.create_task(read_locked())  # made outside the transaction below
    async with in_transaction() as tx:
        await tx.execute_query('SELECT id FROM "lead" WHERE id = $1 FOR UPDATE', [lead.id])
        locked.set()
        await asyncio.sleep(0.5)  # the reader's statement has its snapshot and waits
        await tx.execute_query(
            'UPDATE "lead" SET account_id = $1, last_evaluation_id = $2 WHERE id = $3',
            [smb.id, newer.id, lead.id],
        )
    read = await reader
    assert read is not None
    assert read.lead.account_id == smb.id  # type: ignore[attr-defined]
    assert read.account.segment == "smb"
    assert read.record == (newer.id, lead.id, newer.rulebook_version)
    in_force = read.record_in_force()
    assert in_force is None or in_force.id == newer.id
