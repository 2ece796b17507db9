"""Client mistakes are logged as one short line without a traceback; values are truncated."""

from __future__ import annotations

import logging

import pytest
from graphql import get_introspection_query

from tests.conftest import GraphQLClient

MISTAKES = [
    "{ leads(first: 101) { edges { cursor } } }",
    get_introspection_query(),
    "{ leed { id } }",
    "{ leads(",
    '{ lead(id: "' + "x" * 5000 + '") { id } }',
]


@pytest.mark.parametrize(
    "query", MISTAKES, ids=["range", "introspection", "unknown", "syntax", "id"]
)
async def test_a_client_error_is_one_short_line(
    gql: GraphQLClient, caplog: pytest.LogCaptureFixture, query: str
) -> None:
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        body = await gql(query)
    assert body["errors"]
    records = [r for r in caplog.records if r.name.startswith(("leadgate.graphql", "strawberry"))]
    assert len(records) == 1, [r.getMessage()[:200] for r in records]
    (record,) = records
    assert record.levelno == logging.INFO
    assert record.exc_info is None
    assert "\n" not in record.getMessage()
    assert len(record.getMessage()) < 400


async def test_a_huge_rejected_value_stays_out_of_the_log(
    gql: GraphQLClient, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "Chief Officer of Ada Lovelace's Private Data " * 20_000  # ~900 KB
    with caplog.at_level(logging.DEBUG):
        body = await gql(
            'mutation($t: String) { upsertLead(input: {email: "ada@acme.com", title: $t}) '
            "{ userErrors { code } } }",
            t=secret,
        )
    assert body["data"]["upsertLead"]["userErrors"] == [{"code": "invalid_input"}]
    logged = "".join(r.getMessage() for r in caplog.records)
    assert len(logged) < 2_000
