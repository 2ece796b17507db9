"""A sales key bound to one rep acts on that rep's leads, handoffs and deals only, on every
mutation (schema/rep_binding.py), and nothing changes when it is refused."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from strawberry import relay

from api.enums import DealStage, HandoffStatus, LifecycleStage, Role
from api.models import Account, Deal, Feedback, Handoff, Lead, SalesRep
from tests.conftest import GqlFactory


@dataclass
class World:
    lead: str
    handoff: str
    deal: str
    own_deal: str
    other_rep: str
    account: str


def gid(type_name: str, db_id: int) -> str:
    return str(relay.GlobalID(type_name, str(db_id)))


@pytest.fixture
async def world() -> World:
    """Rep B owns a lead at MQL with a pending handoff and a deal; rep A owns one deal."""
    rep_a = await SalesRep.create(email="a@us.com", name="A", territory="NA")
    rep_b = await SalesRep.create(email="b@us.com", name="B", territory="NA")
    account = await Account.create(domain="acme.com")
    lead = await Lead.create(
        email="lee@acme.com", stage=LifecycleStage.MQL, owner=rep_b, account=account
    )
    handoff = await Handoff.create(
        lead=lead, owner=rep_b, sla_deadline=datetime.now(UTC) + timedelta(hours=4)
    )
    deal = await Deal.create(name="B's", account=account, owner=rep_b, amount=10)
    own = await Deal.create(name="A's", account=account, owner=rep_a, amount=10)
    return World(
        lead=gid("Lead", lead.id),
        handoff=gid("Handoff", handoff.id),
        deal=gid("Deal", deal.id),
        own_deal=gid("Deal", own.id),
        other_rep=gid("SalesRep", rep_b.id),
        account=gid("Account", account.id),
    )


FOREIGN = {
    "acceptHandoff": ('handoffId: "{handoff}"', ["input", "handoffId"]),
    "rejectHandoff": ('handoffId: "{handoff}", reason: "too_small"', ["input", "handoffId"]),
    "recycleLead": ('leadId: "{lead}", reason: "bad_timing"', ["input", "leadId"]),
    "disqualifyLead": ('leadId: "{lead}", reason: "spam"', ["input", "leadId"]),
    "moveDealStage": ('dealId: "{deal}", stage: DEMO, expectedVersion: 1', ["input", "dealId"]),
    "closeDeal": ('dealId: "{deal}", outcome: WON, expectedVersion: 1', ["input", "dealId"]),
    "reopenDeal": ('dealId: "{deal}", reason: "back", expectedVersion: 1', ["input", "dealId"]),
    "updateDeal": ('dealId: "{deal}", amount: "5", expectedVersion: 1', ["input", "dealId"]),
    "updateDeal-owner": (
        'dealId: "{own_deal}", ownerId: "{other_rep}", expectedVersion: 1',
        ["input", "ownerId"],
    ),
    "createDeal-lead": ('name: "x", amount: "1", leadId: "{lead}"', ["input", "leadId"]),
    "createDeal-owner": (
        'name: "x", amount: "1", accountId: "{account}", ownerId: "{other_rep}"',
        ["input", "ownerId"],
    ),
}


@pytest.mark.parametrize("case", sorted(FOREIGN))
async def test_bound_key_cannot_touch_another_reps_objects(
    gql_as: GqlFactory, world: World, case: str
) -> None:
    sales = await gql_as(Role.SALES, rep_email="a@us.com")
    arguments, field = FOREIGN[case]
    mutation = case.split("-")[0]
    body = await sales(
        f"mutation {{ {mutation}(input: {{{arguments.format(**vars(world))}}}) "
        "{ userErrors { code field message } } }"
    )
    assert "errors" not in body, body
    (error,) = body["data"][mutation]["userErrors"]
    assert error["code"] == "permission_denied", error
    assert error["field"] == field
    # nothing moved: the handoff is pending, the lead at MQL, the deals as they were
    assert (await Handoff.get()).status == HandoffStatus.PENDING
    assert (await Lead.get()).stage == LifecycleStage.MQL
    assert await Feedback.all().count() == 0
    assert {d.stage for d in await Deal.all()} == {DealStage.DISCOVERY}
    assert await Deal.all().count() == 2
    assert {d.amount for d in await Deal.all()} == {10}


async def test_bound_key_still_acts_on_its_own_deal(gql_as: GqlFactory, world: World) -> None:
    sales = await gql_as(Role.SALES, rep_email="a@us.com")
    body = await sales(
        f'mutation {{ moveDealStage(input: {{dealId: "{world.own_deal}", stage: DEMO, '
        "expectedVersion: 1}) { deal { stage } userErrors { code } } }"
    )
    assert body["data"]["moveDealStage"] == {"deal": {"stage": "DEMO"}, "userErrors": []}


async def test_unbound_sales_and_admin_keys_are_not_bound(gql_as: GqlFactory, world: World) -> None:
    for client in (await gql_as(Role.SALES), await gql_as(Role.ADMIN)):
        body = await client(
            f'mutation {{ updateDeal(input: {{dealId: "{world.deal}", name: "renamed", '
            "expectedVersion: 1}) { deal { name } userErrors { code } } }"
        )
        assert body["data"]["updateDeal"]["userErrors"] == [], body
        await Deal.filter(name="renamed").update(name="B's", version=1)
