"""The accounts connection: filters by segment and customer status, each account's leads and
deals, totals, and a fixed number of statements per page."""

from __future__ import annotations

from datetime import UTC, datetime

from api.models import Account, Deal, Lead
from tests.conftest import GraphQLClient, SqlCounter

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


async def test_nested_first_pages_cost_the_same_for_any_number_of_accounts(
    gql: GraphQLClient, sql_counter: SqlCounter
) -> None:
    """Each account's leads and deals come from two queries for the whole page (ranked rows
    and grouped counts), not two per account."""
    await gql("{ viewer { role } }")  # the key's first use records lastUsedAt
    counts = []
    for n in (2, 12):
        accounts = [Account(domain=f"n{n}-{i}.com") for i in range(n)]
        await Account.bulk_create(accounts)
        rows = await Account.filter(domain__startswith=f"n{n}-")
        await Lead.bulk_create(
            [Lead(email=f"p{j}@{a.domain}", account_id=a.id) for a in rows for j in range(3)]
        )
        await Deal.bulk_create([Deal(name=f"d-{a.domain}", account_id=a.id) for a in rows])
        sql_counter.reset()
        body = await gql(ACCOUNTS, first=n)
        edges = body["data"]["accounts"]["edges"]
        assert len(edges) == n
        assert all(e["node"]["leads"]["totalCount"] == 3 for e in edges)
        assert all(len(e["node"]["leads"]["edges"]) == 1 for e in edges)
        assert all(e["node"]["deals"]["totalCount"] == 1 for e in edges)
        counts.append(len(sql_counter.statements))
    assert counts[0] == counts[1], counts
