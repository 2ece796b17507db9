"""Deals through HTTP: lifecycle, typed user errors, pagination and who may do what."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from strawberry.relay import to_base64

from api.enums import LifecycleStage, Role
from api.models import Account, Feedback, Lead, SalesRep
from tests.conftest import GqlFactory, GraphQLClient, SqlCounter

DEAL_FIELDS = "id name stage amount currency version closeReason closedAt"
CREATE = f"""
mutation($input: CreateDealInput!) {{
  createDeal(input: $input) {{
    deal {{ {DEAL_FIELDS} account {{ domain }} lead {{ stage }} owner {{ email }} }}
    userErrors {{ code message field suggestion }}
  }}
}}"""
MOVE = f"""
mutation($input: MoveDealStageInput!) {{
  moveDealStage(input: $input) {{ deal {{ {DEAL_FIELDS} }} userErrors {{ code field }} }}
}}"""
CLOSE = f"""
mutation($input: CloseDealInput!) {{
  closeDeal(input: $input) {{
    deal {{ {DEAL_FIELDS} account {{ customerSince }} lead {{ stage }}
            stageHistory {{ totalCount edges {{ node {{ id fromStage toStage }} }} }} }}
    userErrors {{ code field suggestion }}
  }}
}}"""
REOPEN = f"""
mutation($input: ReopenDealInput!) {{
  reopenDeal(input: $input) {{ deal {{ {DEAL_FIELDS} }} userErrors {{ code field }} }}
}}"""
UPDATE = f"""
mutation($input: UpdateDealInput!) {{
  updateDeal(input: $input) {{
    deal {{ {DEAL_FIELDS} expectedCloseOn owner {{ email }} }} userErrors {{ code field }}
  }}
}}"""
CHURN = """
mutation($input: ChurnAccountInput!) {
  churnAccount(input: $input) { account { domain } userErrors { code field } }
}"""
DEALS = """
query($first: Int, $after: String, $stage: DealStage, $owner: ID, $account: ID) {
  deals(first: $first, after: $after, stage: $stage, ownerId: $owner, accountId: $account) {
    edges { node { name stage } }
    pageInfo { hasNextPage endCursor }
  }
}"""


def gid(type_name: str, pk: int) -> str:
    return to_base64(type_name, pk)


@pytest.fixture
async def lead_ids() -> dict[str, str]:
    account = await Account.create(domain="acme.com", segment="enterprise")
    rep = await SalesRep.create(email="ana@leadgate.test", name="Ana", territory="NA")
    lead = await Lead.create(
        email="cto@acme.com", account=account, owner=rep, stage=LifecycleStage.SQL
    )
    return {
        "lead": gid("Lead", lead.id),
        "account": gid("Account", account.id),
        "rep": gid("SalesRep", rep.id),
    }


async def create(gql: GraphQLClient, **input: Any) -> dict[str, Any]:
    body = await gql(CREATE, input={"name": "Acme platform", "amount": "12000.00", **input})
    payload: dict[str, Any] = body["data"]["createDeal"]
    return payload


async def test_a_deal_from_lead_to_won(gql: GraphQLClient, lead_ids: dict[str, str]) -> None:
    created = await create(gql, leadId=lead_ids["lead"], currency="EUR")
    assert created["userErrors"] == []
    deal = created["deal"]
    assert (deal["stage"], deal["amount"], deal["currency"], deal["version"]) == (
        "DISCOVERY", "12000.00", "EUR", 1,
    )  # fmt: skip
    assert deal["account"]["domain"] == "acme.com"
    assert deal["lead"]["stage"] == "OPPORTUNITY"
    assert deal["owner"]["email"] == "ana@leadgate.test"
    moved = await gql(
        MOVE, input={"dealId": deal["id"], "stage": "NEGOTIATION", "expectedVersion": 1}
    )
    assert moved["data"]["moveDealStage"]["deal"]["stage"] == "NEGOTIATION"
    won = await gql(CLOSE, input={"dealId": deal["id"], "outcome": "WON", "expectedVersion": 2})
    result = won["data"]["closeDeal"]
    assert result["userErrors"] == []
    assert result["deal"]["stage"] == "CLOSED_WON"
    assert result["deal"]["account"]["customerSince"] is not None
    assert result["deal"]["lead"]["stage"] == "CUSTOMER"
    history = [e["node"] for e in result["deal"]["stageHistory"]["edges"]]
    assert result["deal"]["stageHistory"]["totalCount"] == len(history)
    assert [(h["fromStage"], h["toStage"]) for h in history] == [
        (None, "DISCOVERY"), ("DISCOVERY", "NEGOTIATION"), ("NEGOTIATION", "CLOSED_WON"),
    ]  # fmt: skip
    churned = await gql(
        CHURN, input={"accountId": lead_ids["account"], "churnedAt": "2020-01-01T00:00:00Z"}
    )
    assert churned["data"]["churnAccount"]["userErrors"] == [
        {"code": "invalid_input", "field": ["input", "churnedAt"]}  # before customer_since
    ]


async def test_bad_input_gives_typed_errors_naming_the_field(
    gql: GraphQLClient, lead_ids: dict[str, str]
) -> None:
    negative = await create(gql, leadId=lead_ids["lead"], amount="-5")
    assert negative["deal"] is None
    assert [(e["code"], e["field"]) for e in negative["userErrors"]] == [
        ("invalid_input", ["input", "amount"])
    ]
    currency = await create(gql, leadId=lead_ids["lead"], currency="US$")
    assert currency["userErrors"][0]["field"] == ["input", "currency"]
    assert "ISO 4217" in currency["userErrors"][0]["suggestion"]
    wrong_id = await create(gql, leadId=lead_ids["account"])
    assert wrong_id["userErrors"][0]["field"] == ["input", "leadId"]
    assert (await Lead.get(email="cto@acme.com")).stage == LifecycleStage.SQL

    deal = (await create(gql, leadId=lead_ids["lead"]))["deal"]
    lost = await gql(CLOSE, input={"dealId": deal["id"], "outcome": "LOST", "expectedVersion": 1,
                                   "reason": "bored"})  # fmt: skip
    assert lost["data"]["closeDeal"]["userErrors"][0]["field"] == ["input", "reason"]
    lost = await gql(CLOSE, input={"dealId": deal["id"], "outcome": "LOST", "expectedVersion": 1,
                                   "reason": "price"})  # fmt: skip
    assert lost["data"]["closeDeal"]["deal"]["closeReason"] == "price"
    moved = await gql(MOVE, input={"dealId": deal["id"], "stage": "DEMO", "expectedVersion": 2})
    assert moved["data"]["moveDealStage"]["userErrors"] == [
        {"code": "illegal_transition", "field": ["input", "stage"]}
    ]
    stale = await gql(REOPEN, input={"dealId": deal["id"], "reason": "new budget",
                                     "expectedVersion": 1})  # fmt: skip
    assert stale["data"]["reopenDeal"]["userErrors"] == [
        {"code": "stale_version", "field": ["input", "expectedVersion"]}
    ]
    reopened = await gql(REOPEN, input={"dealId": deal["id"], "reason": "new budget",
                                        "expectedVersion": 2, "stage": "PROPOSAL"})  # fmt: skip
    assert reopened["data"]["reopenDeal"]["deal"]["stage"] == "PROPOSAL"
    updated = await gql(
        UPDATE,
        input={"dealId": deal["id"], "expectedVersion": 3, "amount": "9000.10",
               "currency": "usd", "expectedCloseOn": "2026-09-30", "ownerId": lead_ids["rep"]},
    )  # fmt: skip
    assert updated["data"]["updateDeal"]["deal"] == {
        "id": deal["id"], "name": "Acme platform", "stage": "PROPOSAL", "amount": "9000.10",
        "currency": "USD", "version": 4, "closeReason": None, "closedAt": None,
        "expectedCloseOn": "2026-09-30", "owner": {"email": "ana@leadgate.test"},
    }  # fmt: skip


async def test_deals_are_paged_and_filtered(gql: GraphQLClient, lead_ids: dict[str, str]) -> None:
    for i in range(5):
        await create(gql, accountId=lead_ids["account"], name=f"deal {i}",
                     ownerId=lead_ids["rep"] if i % 2 else None)  # fmt: skip
    first = (await gql(DEALS, first=2))["data"]["deals"]
    assert [e["node"]["name"] for e in first["edges"]] == ["deal 4", "deal 3"]
    assert first["pageInfo"]["hasNextPage"] is True
    rest = (await gql(DEALS, first=10, after=first["pageInfo"]["endCursor"]))["data"]["deals"]
    assert [e["node"]["name"] for e in rest["edges"]] == ["deal 2", "deal 1", "deal 0"]
    assert rest["pageInfo"]["hasNextPage"] is False
    owned = (await gql(DEALS, owner=lead_ids["rep"]))["data"]["deals"]
    assert [e["node"]["name"] for e in owned["edges"]] == ["deal 3", "deal 1"]
    by_stage = (await gql(DEALS, stage="DEMO", account=lead_ids["account"]))["data"]["deals"]
    assert by_stage["edges"] == []


async def test_roles(gql_as: GqlFactory, lead_ids: dict[str, str]) -> None:
    marketing = await gql_as(Role.MARKETING)
    body = await marketing(CREATE, input={"name": "x", "amount": "1", "leadId": lead_ids["lead"]})
    assert body["errors"][0]["extensions"]["code"] == "permission_denied"
    viewer = await gql_as(Role.VIEWER)
    assert (await viewer(DEALS))["data"]["deals"]["edges"] == []
    revops = await gql_as(Role.REVOPS)
    churn = await revops(
        CHURN, input={"accountId": lead_ids["account"], "churnedAt": "2026-01-01T00:00:00Z"}
    )
    assert churn["data"]["churnAccount"]["userErrors"] == [
        {"code": "illegal_transition", "field": ["input", "accountId"]}  # not a customer
    ]
    sales = await gql_as(Role.SALES)
    created = await create(sales, leadId=lead_ids["lead"])
    assert created["userErrors"] == []


async def test_statements_for_a_deals_page_do_not_grow_with_its_size(
    gql: GraphQLClient, sql_counter: SqlCounter
) -> None:
    account = await Account.create(domain="big.com")
    rep = await SalesRep.create(email="rep@leadgate.test", name="Rep", territory="NA")
    for i in range(12):
        body = await gql(
            CREATE,
            input={"name": f"d{i}", "amount": "10", "accountId": gid("Account", account.id),
                   "ownerId": gid("SalesRep", rep.id)},
        )  # fmt: skip
        assert body["data"]["createDeal"]["userErrors"] == []
    query = """
    query($first: Int) {
      deals(first: $first) {
        edges { node { name account { domain } owner { email }
                       stageHistory { edges { node { toStage } } } } }
      }
    }"""
    counts = []
    for first in (2, 12):
        sql_counter.reset()
        body = await gql(query, first=first)
        edges = body["data"]["deals"]["edges"]
        assert len(edges) == first
        assert all(
            e["node"]["stageHistory"] == {"edges": [{"node": {"toStage": "DISCOVERY"}}]}
            for e in edges
        )
        counts.append(len(sql_counter.statements))
    assert counts[0] == counts[1], sql_counter.statements


async def _opportunity(gql: GraphQLClient, lead_ids: dict[str, str]) -> dict[str, Any]:
    deal: dict[str, Any] = (await create(gql, leadId=lead_ids["lead"]))["deal"]
    assert deal["lead"] == {"stage": "OPPORTUNITY"}
    return deal


@pytest.mark.parametrize(
    ("reason", "stage"), [("no_budget", "RECYCLED"), ("competitor", "DISQUALIFIED")]
)
async def test_a_lost_deal_moves_its_lead_out_of_opportunity(
    gql: GraphQLClient, lead_ids: dict[str, str], reason: str, stage: str
) -> None:
    """#11 item 5: lost reasons that are also disqualify codes disqualify, others recycle."""
    deal = await _opportunity(gql, lead_ids)
    body = await gql(
        CLOSE, input={"dealId": deal["id"], "outcome": "LOST", "reason": reason,
                      "expectedVersion": deal["version"]},
    )  # fmt: skip
    assert body["data"]["closeDeal"]["userErrors"] == []
    assert body["data"]["closeDeal"]["deal"]["lead"] == {"stage": stage}
    lead = await Lead.get(email="cto@acme.com")
    assert lead.owner_id is None  # type: ignore[attr-defined]  # back to marketing
    [feedback] = await Feedback.all()
    assert (feedback.kind, feedback.reason_code, feedback.segment) == ("lost", reason, "enterprise")


async def test_lost_deals_for_accounts_count_for_their_segment(gql: GraphQLClient) -> None:
    """#11 item 6: three `no_budget` losses of lead-less deals in one segment adjust targeting."""
    for n in range(3):
        account = await Account.create(domain=f"mid{n}.com", segment="mid_market")
        deal = (await create(gql, accountId=gid("Account", account.id)))["deal"]
        body = await gql(
            CLOSE, input={"dealId": deal["id"], "outcome": "LOST", "reason": "no_budget",
                          "expectedVersion": deal["version"]},
        )  # fmt: skip
        assert body["data"]["closeDeal"]["userErrors"] == []
    assert {f.segment for f in await Feedback.all()} == {"mid_market"}
    body = await gql(
        "{ targetingAdjustments { edges { node { rule scopeKind scopeValue causedBy } } } }"
    )
    [edge] = body["data"]["targetingAdjustments"]["edges"]
    adjustment = edge["node"]
    assert adjustment["rule"] == "fb_lost_no_budget"
    assert (adjustment["scopeKind"], adjustment["scopeValue"]) == ("segment", "mid_market")
    assert len(adjustment["causedBy"]) == 3


async def test_churn_is_feedback_the_rules_react_to(gql: GraphQLClient) -> None:
    """#11 item 7: two churned customers of a segment lower fit there (fb_churn_segment)."""
    for n in range(2):
        account = await Account.create(domain=f"smb{n}.com", segment="smb")
        deal = (await create(gql, accountId=gid("Account", account.id)))["deal"]
        won = await gql(
            CLOSE, input={"dealId": deal["id"], "outcome": "WON",
                          "expectedVersion": deal["version"]},
        )  # fmt: skip
        assert won["data"]["closeDeal"]["userErrors"] == []
        churned = await gql(
            CHURN, input={"accountId": gid("Account", account.id), "note": "moved to a rival",
                          "churnedAt": datetime.now(UTC).isoformat()},
        )  # fmt: skip
        assert churned["data"]["churnAccount"]["userErrors"] == []
    churns = await Feedback.filter(kind="churned").order_by("id")
    assert [(f.segment, f.note) for f in churns] == [("smb", "moved to a rival")] * 2
    assert all(f.deal_id is not None for f in churns)  # type: ignore[attr-defined]
    body = await gql(
        "{ targetingAdjustments { edges { node { rule scopeKind scopeValue delta } } } }"
    )
    nodes = [e["node"] for e in body["data"]["targetingAdjustments"]["edges"]]
    assert {"rule": "fb_churn_segment", "scopeKind": "segment", "scopeValue": "smb",
            "delta": -10.0} in nodes  # fmt: skip
