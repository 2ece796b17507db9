"""Fuzzing: operations generated from the served schema (hypothesis-graphql) never produce an
``internal_error`` or an HTTP 5xx, whatever their arguments (NUL, huge, out of range)."""

from __future__ import annotations

import base64
import fcntl
import hashlib
import platform
from datetime import UTC, timedelta, timezone
from importlib.metadata import version
from pathlib import Path
from typing import Any

import graphql
import hypothesis_graphql as gh
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import nodes

from api.enums import Role
from schema.root import build_schema
from tests.conftest import GqlFactory

QUERIES = 500
MUTATIONS = 200
NODE_TYPES = ("Lead", "Account", "Deal", "Handoff", "Evaluation", "SalesRep", "Goal", "ApiKey")


def _json_node(value: object) -> graphql.ValueNode:
    if isinstance(value, dict):
        return nodes.Object(
            [
                graphql.ObjectFieldNode(name=graphql.NameNode(value=k), value=_json_node(v))
                for k, v in value.items()
            ]
        )
    if isinstance(value, list):
        return nodes.List([_json_node(v) for v in value])
    if isinstance(value, bool):
        return nodes.Boolean(value)
    if isinstance(value, int):
        return nodes.Int(value)
    if isinstance(value, float):
        return nodes.Float(value)
    return nodes.String(value)


_TZ = st.sampled_from([UTC, timezone(timedelta(hours=-23)), timezone(timedelta(hours=14))])
_KEYS = st.from_regex(r"[a-z_]{1,8}", fullmatch=True)
SCALARS: dict[str, st.SearchStrategy[graphql.ValueNode]] = {
    "Date": st.dates().map(lambda d: nodes.String(d.isoformat())),
    "DateTime": st.datetimes(timezones=_TZ).map(lambda d: nodes.String(d.isoformat())),
    "Decimal": st.one_of(
        st.decimals(allow_nan=True, allow_infinity=True).map(str),
        st.sampled_from(["1e308", "-1e308", "0.001", "12.5", "NaN", "sNaN"]),
    ).map(nodes.String),
    "JSON": st.recursive(
        st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text()),
        lambda inner: st.one_of(
            st.lists(inner, max_size=3), st.dictionaries(_KEYS, inner, max_size=3)
        ),
        max_leaves=6,
    ).map(_json_node),
    "ID": st.one_of(
        st.text(max_size=12),
        st.builds(
            lambda t, n: base64.b64encode(f"{t}:{n}".encode()).decode(),
            st.sampled_from(NODE_TYPES),
            st.one_of(st.integers(-5, 5), st.integers(2**31 - 2, 2**63), st.text(max_size=4)),
        ),
    ).map(nodes.String),
}


def _generate(strategy: st.SearchStrategy[Any], count: int) -> list[str]:
    """``count`` operations from ``strategy``, derandomized so a failure reproduces."""
    found: list[str] = []

    @settings(
        max_examples=count,
        database=None,
        derandomize=True,
        phases=[Phase.generate],
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(operation: str) -> None:
        found.append(operation)

    collect()
    return found


def _operations(
    schema: graphql.GraphQLSchema, config: pytest.Config
) -> tuple[list[str], list[str]]:
    """The derandomized queries and mutations. Generating them is most of this test's time
    (about 40 s of CPU), so they are kept in pytest's cache and reused by the next run on the
    same inputs (CI's second database): this file, the schema and the generating libraries'
    versions decide the list, and they make its key. CI runs its two databases' passes side
    by side, so the first to get here generates under a file lock and the other waits for the
    list instead of generating it again on the other core."""
    inputs = [Path(__file__).read_text(), graphql.print_schema(schema), platform.python_version()]
    inputs += [version(p) for p in ("hypothesis", "hypothesis-graphql", "graphql-core")]
    key = hashlib.sha256("\0".join(inputs).encode()).hexdigest()
    cache = getattr(config, "cache", None)  # None under -p no:cacheprovider
    if not cache:
        return _generate_all(schema)
    with (cache.mkdir("leadgate-fuzz") / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        stored: dict[str, Any] = cache.get("leadgate/fuzz-operations", None) or {}
        if stored.get("key") == key:
            return stored["queries"], stored["mutations"]
        queries, mutations = _generate_all(schema)
        cache.set(
            "leadgate/fuzz-operations", {"key": key, "queries": queries, "mutations": mutations}
        )
    return queries, mutations


def _generate_all(schema: graphql.GraphQLSchema) -> tuple[list[str], list[str]]:
    queries = _generate(gh.queries(schema, custom_scalars=SCALARS), QUERIES)
    mutations = _generate(gh.mutations(schema, custom_scalars=SCALARS), MUTATIONS)
    return queries, mutations


@pytest.mark.slow
async def test_generated_operations_never_fail_internally(
    gql_as: GqlFactory, pytestconfig: pytest.Config
) -> None:
    admin = await gql_as(Role.ADMIN)
    created = await admin(
        'mutation { upsertLead(input: {email: "fuzz@acme.com", company: {name: "Acme"}}) '
        "{ lead { id } } }"
    )
    assert created["data"]["upsertLead"]["lead"]["id"]
    queries, mutations = _operations(build_schema()._schema, pytestconfig)
    assert len(queries) >= QUERIES
    assert len(mutations) >= MUTATIONS
    failures = []
    for operation in [*queries, *mutations]:
        response = await admin.http.post(
            "/graphql",
            json={"query": operation},
            headers={"Authorization": f"Bearer {admin.token}"},
        )
        assert response.status_code < 500, (operation, response.text)
        body = response.json()
        for error in body.get("errors") or ():
            code = (error.get("extensions") or {}).get("code")
            if code in (None, "internal_error"):
                failures.append((operation, error))
    assert not failures, failures[:5]
