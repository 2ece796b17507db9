"""Operations: Prometheus /metrics, CORS for browser frontends, request ids."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from api import telemetry
from api.app import create_app
from api.settings import Settings
from tests.conftest import GraphQLClient


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_metrics_count_operations_and_evaluations(
    client: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    before = _samples((await client.get("/metrics")).text)
    await gql('mutation Intake { upsertLead(input: {email: "m@acme.com"}) { lead { id } } }')
    await gql("query Page { leads(first: 101) { edges { cursor } } }")
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    after = _samples(response.text)

    def grew(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0) - before.get(key, 0)

    assert grew("leadgate_graphql_requests_total", operation="Intake", type="mutation",
                outcome="ok") == 1  # fmt: skip
    assert grew("leadgate_graphql_requests_total", operation="Page", type="query",
                outcome="invalid_input") == 1  # fmt: skip
    assert grew("leadgate_graphql_request_duration_seconds_count", operation="Intake") == 1
    evaluated = sum(
        after[k] - before.get(k, 0) for k in after if k[0] == "leadgate_evaluations_total"
    )
    assert evaluated == 1
    names = {k[0] for k in after}
    assert {"leadgate_engine_worker_restarts_total", "leadgate_sla_breaches_total"} <= names


async def test_client_chosen_operation_names_are_bounded(
    client: httpx.AsyncClient, gql: GraphQLClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(telemetry, "_seen", set())  # other tests' names do not count here
    for i in range(120):
        await gql(f"query Op{i} {{ __typename }}")
    operations = {
        dict(k[1]).get("operation")
        for k in _samples((await client.get("/metrics")).text)
        if k[0] == "leadgate_graphql_requests_total"
    }
    assert len({o for o in operations if o and o.startswith("Op")}) == telemetry.MAX_OPERATIONS
    assert "other" in operations


async def test_cors_preflight_and_response_for_allowed_origins(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"cors_origins": ["https://app.example"]}))
    transport = httpx.ASGITransport(app=app)
    # no lifespan: CORS answers before anything needs the database or the engine
    async with httpx.AsyncClient(transport=transport, base_url="http://leadgate.test") as http:
        preflight = await http.options(
            "/graphql",
            headers={
                "Origin": "https://app.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://app.example"
        assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
        other = await http.options(
            "/graphql",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
        assert "access-control-allow-origin" not in other.headers
        answer = await http.get("/healthz", headers={"Origin": "https://app.example"})
        assert answer.headers["access-control-allow-origin"] == "https://app.example"


async def test_every_response_carries_a_request_id(client: httpx.AsyncClient) -> None:
    mine = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert mine.headers["x-request-id"] == "abc-123"
    fresh = await client.get("/healthz", headers={"X-Request-ID": "bad id\nwith newline"})
    assert len(fresh.headers["x-request-id"]) == 32
