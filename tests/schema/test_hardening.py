"""Hardening: a catalogue of malicious operations, each rejected quickly and before execution;
limits and their cost model; error masking; GraphQL-over-HTTP status codes and media types."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import graphql
import httpx
import pytest
from graphql import get_introspection_query, parse
from starlette.applications import Starlette

from api.app import create_app
from api.auth import LOCAL_ADMIN, create_api_key
from api.enums import Role
from api.models import Lead
from api.settings import Settings
from schema import hardening
from schema.gate import Limits, check_limits
from schema.http import GRAPHQL_RESPONSE_JSON, negotiate
from schema.root import build_schema
from tests.conftest import SqlCounter

GQL_JSON = f"{GRAPHQL_RESPONSE_JSON}; charset=utf-8"


@pytest.fixture
async def admin(client: httpx.AsyncClient) -> httpx.AsyncClient:
    """The test client, holding an admin key (so what is refused is refused for the attack)."""
    _, token = await create_api_key(name="hardening", role=Role.ADMIN)
    client.headers["Authorization"] = f"Bearer {token}"
    client.headers["Accept"] = GRAPHQL_RESPONSE_JSON
    return client


def _fragments(count: int, body: str, spreads: int) -> str:
    """``F0`` spreads ``F1`` ``spreads`` times, ... , and ``F{count}`` selects ``body``."""
    chain = "".join(
        f"fragment F{i} on Query {{ {f'...F{i + 1} ' * spreads}}}\n" for i in range(count)
    )
    return f"{{ ...F0 }}\n{chain}fragment F{count} on Query {{ {body} }}"


def _nested(value: object, depth: int) -> object:
    for _ in range(depth):
        value = {"a": value}
    return value


@dataclass
class Attack:
    """One malicious request: what is sent, the status and an error message fragment expected."""

    name: str
    status: int
    message: str
    query: str | None = None
    variables: dict[str, Any] | None = None
    raw: bytes | None = None  # a body sent as-is
    method: str = "POST"
    headers: dict[str, str] = field(default_factory=dict)
    chunked: bool = False


LEADS = "leads { edges { node { email } } }"
UPSERT = 'mutation { upsertLead(input: {email: "mallory@acme.com"}) { lead { id } } }'

CATALOGUE = [
    Attack(
        "deep nesting",
        400,
        "nested too deeply: more than 12 fields",
        query="{ leads { edges { node { account " + "{ a " * 150 + "{ b }" + " }" * 150 + "}}}}",
    ),
    Attack(
        "nesting past the parser's limit",
        400,
        "Syntax Error",
        query="{ leads " + "{ a " * 300 + "{ b }" + " }" * 300 + " }",
    ),
    Attack(
        "alias bomb",
        400,
        "uses 150 aliases; the limit is 30",
        query="{ " + " ".join(f"a{i}: {LEADS}" for i in range(150)) + " }",
    ),
    Attack(
        "field duplication",
        400,
        "selects 'leads' 250 times in one selection set",
        query="{ " + "leads { edges { cursor } } " * 250 + "}",
    ),
    Attack(
        "same alias, different arguments",
        400,
        "selects 'x' 100 times",
        query="{ "
        + " ".join(f"x: leads(first: {i % 99 + 1}) {{ edges {{ cursor }} }}" for i in range(100))
        + " }",
    ),
    Attack(
        "huge lists via first",
        400,
        "costs 60301",
        query="{ leads(first: 100) { edges { node { evaluations(first: 100) { edges { node { "
        "report { notFired { failed { message } } } } } } } } } }",
    ),
    Attack(
        "page size from a variable",
        400,
        "costs 60301",
        query="query($n: Int!) { a: leads(first: $n) { edges { node { evaluations(first: $n) "
        "{ edges { node { report { fired { name effect } } } } } } } } }",
        variables={"n": 100},
    ),
    Attack("fragment cycle", 400, "Fragment 'F0' spreads itself", query=_fragments(3, "...F0", 1)),
    Attack(
        "fragment fan-out (2^40 expansions)",
        400,
        "selects 'a' 1000000000000 times",
        query=_fragments(40, "a: __typename", 2),
    ),
    Attack(
        "fragment chain of 300",
        400,
        "Fragments spread fragments 301 deep; the limit is 50",
        query=_fragments(300, "__typename", 1),
    ),
    Attack(
        "directive overloading",
        400,
        "uses 200 directives; the limit is 50",
        query="{ __typename " + "@include(if: true) " * 200 + "}",
    ),
    Attack(
        "introspection probe",
        400,
        "introspection has been disabled",
        query="{ __schema { types { name fields { name } } } }",
    ),
    Attack(
        "type probe",
        400,
        "introspection has been disabled",
        query='{ __type(name: "ApiKey") { fields { name } } }',
    ),
    Attack(
        "full introspection query",
        400,
        "introspection has been disabled",
        query=get_introspection_query(),
    ),
    Attack(
        "token flood",
        400,
        "more than 5000 tokens",
        query="{ " + "a " * 6000 + "}",
    ),
    Attack(
        "comment flood",
        400,
        "more than 200 comments",
        query="{ __typename\n" + "#\n" * 5000 + "}",
    ),
    Attack(
        "very long string literal",
        400,
        "more than 50000 code points",
        query='{ lead(id: "' + "A" * 500_000 + '") { id } }',
    ),
    Attack(
        "oversized body",
        413,
        "exceeds 1000000 bytes",
        query="{ __typename }",
        variables={"pad": "x" * 1_100_000},
    ),
    Attack(
        "oversized body without Content-Length",
        413,
        "exceeds 1000000 bytes",
        raw=json.dumps({"query": "{ __typename }", "pad": "x" * 3_000_000}).encode(),
        chunked=True,
    ),
    Attack(
        "batched array",
        400,
        "Batching is not enabled",
        raw=json.dumps([{"query": "{ __typename }"}] * 1000).encode(),
    ),
    Attack(
        "mutation over GET",
        405,
        "mutations are not allowed when using GET",
        query=UPSERT,
        method="GET",
    ),
    Attack(
        "subscription over GET",
        400,
        "Subscribe over WebSocket",
        query='subscription { evaluations(leadId: "1") { id } }',
        method="GET",
    ),
    Attack(
        "subscription over POST",
        400,
        "Subscribe over WebSocket",
        query='subscription { evaluations(leadId: "1") { id } }',
    ),
    Attack(
        "deeply nested variables",
        400,
        "JSON nests deeper than 32 levels",
        query="query($p: JSON) { __typename }",
        variables={"p": _nested(1, 100)},
    ),
    Attack(
        "variables nested past the interpreter's stack",
        400,
        "Unable to parse request body as JSON",
        raw=b'{"query": "{ __typename }", "variables": {"p": '
        + b"[" * 100_000
        + b"]" * 100_000
        + b"}}",
    ),
    Attack(
        "4301-digit number",
        400,
        "Unable to parse request body as JSON",
        raw=b'{"query": "{ __typename }", "variables": {"n": ' + b"9" * 4301 + b"}}",
    ),
    Attack(
        "form post (CSRF shape)",
        415,
        "Send the operation as application/json",
        raw=b"query=%7B__typename%7D",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    ),
    Attack(
        "JSON that is not an object",
        400,
        "must be a JSON object",
        raw=b'"{ __typename }"',
    ),
]


async def _send(client: httpx.AsyncClient, attack: Attack) -> httpx.Response:
    if attack.method == "GET":
        return await client.get("/graphql", params={"query": attack.query or ""})
    headers = {"Content-Type": "application/json", **attack.headers}
    body = attack.raw
    if body is None:
        body = json.dumps({"query": attack.query, "variables": attack.variables}).encode()
    if attack.chunked:
        data = body

        async def stream() -> AsyncIterator[bytes]:
            for start in range(0, len(data), 65_536):
                yield data[start : start + 65_536]

        return await client.post("/graphql", content=stream(), headers=headers)
    return await client.post("/graphql", content=body, headers=headers)


@pytest.mark.parametrize("attack", CATALOGUE, ids=[a.name for a in CATALOGUE])
async def test_malicious_operation_is_rejected_before_execution(
    admin: httpx.AsyncClient, sql_counter: SqlCounter, attack: Attack
) -> None:
    """Each attack is stopped by the limit it names (its message), before any resolver runs.
    How fast a rejection is belongs to bench/bench_http.py, not to a timed assertion here."""
    await _send(admin, Attack("warm-up", 200, "", query="{ __typename }"))  # key lookup cached
    sql_counter.reset()
    response = await _send(admin, attack)

    assert response.status_code == attack.status, response.text[:500]
    errors = response.json()["errors"]
    assert any(attack.message in error["message"] for error in errors), errors[:3]
    assert response.json().get("data") is None
    assert all("path" not in error for error in errors)  # nothing was executed
    executed = [s for s in sql_counter.statements if "api_key" not in s]
    assert executed == []  # not one resolver touched the database
    assert await Lead.all().count() == 0


async def test_unsupported_content_type_reports_415(admin: httpx.AsyncClient) -> None:
    response = await admin.post(
        "/graphql", content=b"{ __typename }", headers={"Content-Type": "application/graphql"}
    )
    assert response.status_code == 415
    assert response.headers["content-type"] == GQL_JSON


async def test_mutation_over_get_writes_nothing_and_says_where_to_go(
    admin: httpx.AsyncClient,
) -> None:
    response = await admin.get("/graphql", params={"query": UPSERT})
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert await Lead.all().count() == 0
    posted = await admin.post("/graphql", json={"query": UPSERT})
    assert posted.status_code == 200, posted.text
    assert await Lead.all().count() == 1


async def test_queries_over_get_work(admin: httpx.AsyncClient) -> None:
    response = await admin.get("/graphql", params={"query": "{ __typename }"})
    assert response.status_code == 200
    assert response.json() == {"data": {"__typename": "Query"}}


# --- GraphQL over HTTP: media types and status codes -------------------------------------------


@pytest.mark.parametrize(
    ("accept", "media"),
    [
        (None, "application/json"),
        ("*/*", "application/json"),
        ("application/json", "application/json"),
        (GRAPHQL_RESPONSE_JSON, GRAPHQL_RESPONSE_JSON),
        (f"application/json;q=0.9, {GRAPHQL_RESPONSE_JSON}", GRAPHQL_RESPONSE_JSON),
        (f"{GRAPHQL_RESPONSE_JSON};q=0.5, application/json", "application/json"),
        (f"{GRAPHQL_RESPONSE_JSON};q=0, */*", "application/json"),
        ("text/html", None),
    ],
)
def test_negotiation(accept: str | None, media: str | None) -> None:
    assert negotiate(accept) == media


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("{ __typename }", 200),
        ("{ leads(first: 101) { edges { cursor } } }", 200),  # executed: a field error
        ("{ nope }", 400),  # validation
        ("{ __typename", 400),  # parse
    ],
)
async def test_graphql_response_json_status_codes(
    admin: httpx.AsyncClient, query: str, status: int
) -> None:
    response = await admin.post("/graphql", json={"query": query})
    assert response.status_code == status
    assert response.headers["content-type"] == GQL_JSON


async def test_application_json_keeps_200_for_request_errors(admin: httpx.AsyncClient) -> None:
    response = await admin.post(
        "/graphql", json={"query": "{ nope }"}, headers={"Accept": "application/json"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert "nope" in response.json()["errors"][0]["message"]


async def test_unacceptable_accept_is_406(admin: httpx.AsyncClient) -> None:
    response = await admin.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"Accept": "text/xml"}
    )
    assert response.status_code == 406
    assert response.json()["errors"][0]["message"].startswith("Acceptable media types")


async def test_graphiql_is_off(admin: httpx.AsyncClient) -> None:
    response = await admin.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 404
    assert "graphiql" not in response.text.lower()


async def test_field_suggestions_do_not_leak_the_schema(admin: httpx.AsyncClient) -> None:
    body = (await admin.post("/graphql", json={"query": "{ leadz { id } }"})).json()
    assert body["errors"][0]["message"] == "Cannot query field 'leadz' on type 'Query'."


# --- error masking -----------------------------------------------------------------------------


async def test_unexpected_exceptions_are_masked(
    admin: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(first: int | None) -> int:
        raise RuntimeError("connection to postgres://root:hunter2@db failed")

    monkeypatch.setattr("schema.leads.page_size", broken)
    response = await admin.post("/graphql", json={"query": "{ leads { edges { cursor } } }"})
    assert response.status_code == 200  # executed: a field error, not a request error
    [error] = response.json()["errors"]
    assert error["message"] == "Internal server error"
    assert error["extensions"] == {"code": "internal_error"}
    assert error["path"] == ["leads"]
    assert "hunter2" not in response.text
    assert "hunter2" in caplog.text  # operators still see it in the log


async def test_user_and_validation_errors_stay_readable(admin: httpx.AsyncClient) -> None:
    query = "{ leads(first: 101) { edges { cursor } } }"
    body = (await admin.post("/graphql", json={"query": query})).json()
    assert "first must be between 1 and 100" in body["errors"][0]["message"]
    body = (await admin.post("/graphql", json={"query": UPSERT.replace("email", "emial")})).json()
    assert any("emial" in error["message"] for error in body["errors"])
    variables = {"input": {"email": "x@acme.com", "company": {"employeeCount": "many"}}}
    query = "mutation($input: UpsertLeadInput!) { upsertLead(input: $input) { created } }"
    body = (await admin.post("/graphql", json={"query": query, "variables": variables})).json()
    assert "employeeCount" in body["errors"][0]["message"]


# --- limits and cost ---------------------------------------------------------------------------

SCHEMA = build_schema(Settings(_env_file=None))


def _cost(query: str) -> int:
    errors = check_limits(SCHEMA._schema, parse(query), Limits(max_cost=0))
    [error] = [e for e in errors if e.extensions and e.extensions["limit"] == "cost"]
    actual: int = error.extensions["actual"]  # type: ignore[index]
    return actual


@pytest.mark.parametrize(
    ("query", "cost"),
    [
        ("{ __typename }", 1),
        ("{ leads { edges { node { email } } } }", 1 + 20 * 3),  # default page 20
        ("{ leads(first: 5) { edges { node { email } } } }", 1 + 5 * 3),
        ("{ leads(first: 500) { edges { cursor } } }", 1 + 100 * 2),  # capped at 100
        ("query($n: Int) { leads(first: $n) { edges { cursor } } }", 1 + 100 * 2),  # worst case
        # a connection without `first`: its default page of 20
        ("{ lead(id: 1) { evaluations { edges { node { id } } } } }", 1 + 1 + 20 * 3),
        ("{ lead(id: 1) { ...L ...L } } fragment L on Lead { email account { domain } }", 7),
        ("{ viewer { __typename } __schema { types { fields { name } } } }", 2),
    ],
)
def test_cost_model(query: str, cost: int) -> None:
    assert _cost(query) == cost


def test_everyday_operations_fit_the_default_limits() -> None:
    query = """
    query($first: Int) {
      leads(first: $first) {
        edges { cursor node { id email firstName lastName stage fitScore engagementScore
          account { id domain name segment employeeCount } owner { id name }
          latestEvaluation { id stageAfter report { headline scores { name value } } } } }
        pageInfo { hasNextPage endCursor }
      }
    }"""
    assert check_limits(SCHEMA._schema, parse(query), Limits()) == []


def test_introspection_works_in_dev_mode() -> None:
    dev = build_schema(Settings(dev=True, _env_file=None))
    admin = SimpleNamespace(principal=LOCAL_ADMIN)
    result = dev.execute_sync(get_introspection_query(), context_value=admin)
    assert result.errors is None
    assert result.data is not None
    assert result.data["__schema"]["queryType"]["name"] == "Query"


async def test_graphiql_is_served_in_dev_mode(settings: Settings) -> None:
    app: Starlette = create_app(settings.model_copy(update={"dev": True}))
    transport = httpx.ASGITransport(app=app)  # no lifespan: the page needs no database
    for name in ("engine", "events"):
        setattr(app.state, name, None)
    async with httpx.AsyncClient(transport=transport, base_url="http://leadgate.test") as c:
        response = await c.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


async def test_parsing_and_validation_run_once_per_query_text(
    admin: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    query = "{ viewer { __typename } leads(first: 3) { edges { cursor } } }"
    await admin.post("/graphql", json={"query": query})
    checked: list[object] = []
    check = hardening._check

    def counted(*args: Any) -> tuple[object, ...]:
        checked.append(args)
        return check(*args)

    monkeypatch.setattr(hardening, "_check", counted)
    parsed: list[object] = []
    parse = graphql.parse  # what strawberry's module imported

    def counted_parse(*args: Any, **kwargs: Any) -> Any:
        parsed.append(args)
        return parse(*args, **kwargs)

    monkeypatch.setattr("strawberry.schema.schema.parse", counted_parse)
    for _ in range(3):
        assert (await admin.post("/graphql", json={"query": query})).status_code == 200
    assert (parsed, checked) == ([], [])
    await admin.post("/graphql", json={"query": query + " "})  # another text: parsed once
    assert len(parsed) == 1


async def test_a_cached_document_is_refused_every_time(admin: httpx.AsyncClient) -> None:
    deep = "{ viewer { " + "__typename " * 25 + "} }"  # 25 repeats of one key: over the gate
    for _ in range(3):
        errors = (await admin.post("/graphql", json={"query": deep})).json()["errors"]
        assert errors[0]["extensions"]["code"] == "limit_exceeded"


async def test_a_broken_text_is_refused_every_time(admin: httpx.AsyncClient) -> None:
    for _ in range(2):
        answer = await admin.post("/graphql", json={"query": "{ viewer { "})
        assert answer.json()["errors"][0]["extensions"]["code"] == "graphql_parse_failed"
