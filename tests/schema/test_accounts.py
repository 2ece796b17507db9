"""The accounts connection: filters by segment and customer status, each account's leads and
deals, totals, and a fixed number of statements per page."""

from __future__ import annotations

from datetime import UTC, datetime

from api.models import Account, Deal, Lead
from tests.conftest import GraphQLClient

ACCOUNTS = """
query($segment: String, $customer: Boolean, $churned: Boolean, $first: Int) {
  accounts(segment: $segment, customer: $customer, churned: $churned, first: $first) {
    totalCount
    edges { node { domain
      leads(first: 1) { totalCount edges { node { email } } }
      deals { totalCount edges { node { name } } } } }
  }
}"""


async def _accounts() -> None:
    now = datetime.now(UTC)
    acme = await Account.create(domain="acme.com", segment="enterprise", customer_since=now)
    await Account.create(domain="beta.io", segment="smb")
    await Account.create(
        domain="gone.com", segment="enterprise", customer_since=now, churned_at=now
    )
    await Lead.bulk_create([Lead(email=f"p{i}@acme.com", account_id=acme.id) for i in range(3)])
    await Deal.create(name="Acme seats", account_id=acme.id, amount=100)


async def domains(gql: GraphQLClient, **variables: object) -> list[str]:
    body = await gql(ACCOUNTS, **variables)
    assert "errors" not in body, body
    return [e["node"]["domain"] for e in body["data"]["accounts"]["edges"]]


async def test_filters_by_segment_and_customer_status(gql: GraphQLClient) -> None:
    await _accounts()
    assert await domains(gql) == ["gone.com", "beta.io", "acme.com"]
    assert await domains(gql, segment="enterprise") == ["gone.com", "acme.com"]
    assert await domains(gql, customer=True) == ["acme.com"]
    assert await domains(gql, customer=False) == ["gone.com", "beta.io"]
    assert await domains(gql, churned=True) == ["gone.com"]
    assert await domains(gql, churned=False) == ["beta.io", "acme.com"]


async def test_an_accounts_leads_and_deals_page_with_totals(gql: GraphQLClient) -> None:
    await _accounts()
    body = await gql(ACCOUNTS, customer=True)
    [edge] = body["data"]["accounts"]["edges"]
    node = edge["node"]
    assert node["leads"]["totalCount"] == 3
    assert [e["node"]["email"] for e in node["leads"]["edges"]] == ["p2@acme.com"]
    assert node["deals"] == {"totalCount": 1, "edges": [{"node": {"name": "Acme seats"}}]}
    assert body["data"]["accounts"]["totalCount"] == 1
