"""API keys through HTTP: listed with global ids and last use; Viewer names its rep by id."""

from __future__ import annotations

from api.enums import Role
from api.models import ApiKey, SalesRep
from tests.conftest import GqlFactory, GraphQLClient

KEYS = """
query($revoked: Boolean!) {
  apiKeys(includeRevoked: $revoked) {
    totalCount
    edges { node { id name prefix role createdAt lastUsedAt revokedAt rep { email } } }
  }
}"""


async def test_keys_are_listed_with_last_use_and_resolve_as_nodes(
    gql: GraphQLClient, gql_as: GqlFactory
) -> None:
    await SalesRep.create(email="ana@example.com", name="Ana", territory="NA")
    ana = await gql_as(Role.SALES, "ana@example.com")
    idle = await gql_as(Role.VIEWER)
    viewer = (await ana("{ viewer { role repId rep { email } } }"))["data"]["viewer"]
    assert viewer["rep"] == {"email": "ana@example.com"}
    assert viewer["repId"] == "U2FsZXNSZXA6MQ=="  # SalesRep:1, not the database integer
    revoked = await ApiKey.get(name=f"test-{Role.VIEWER}")
    revoke = "mutation($p: String!) { revokeApiKey(input: {prefix: $p}) { userErrors { code } } }"
    await gql(revoke, p=revoked.prefix)

    listed = (await gql(KEYS, revoked=False))["data"]["apiKeys"]
    by_name = {e["node"]["name"]: e["node"] for e in listed["edges"]}
    assert set(by_name) == {"test-admin", "test-sales"}
    assert listed["totalCount"] == 2
    assert by_name["test-sales"]["rep"] == {"email": "ana@example.com"}
    assert by_name["test-sales"]["lastUsedAt"] is not None  # used once above
    assert "secret" not in str(listed)
    every = (await gql(KEYS, revoked=True))["data"]["apiKeys"]
    assert every["totalCount"] == 3
    assert idle.token is not None
    node = await gql(
        "query($id: ID!) { node(id: $id) { __typename ... on ApiKey { name } } }",
        id=by_name["test-sales"]["id"],
    )
    assert node["data"]["node"] == {"__typename": "ApiKey", "name": "test-sales"}
    # Keys are an admin's business: others get null, as for an id that does not exist.
    hidden = await ana("query($id: ID!) { node(id: $id) { id } }", id=by_name["test-sales"]["id"])
    assert hidden["data"]["node"] is None


async def test_last_use_is_written_at_most_once_a_minute(gql_as: GqlFactory) -> None:
    client = await gql_as(Role.VIEWER)
    await client("{ viewer { role } }")
    first = (await ApiKey.get(name=f"test-{Role.VIEWER}")).last_used_at
    assert first is not None
    await client("{ viewer { role } }")
    assert (await ApiKey.get(name=f"test-{Role.VIEWER}")).last_used_at == first
