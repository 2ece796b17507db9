"""Health endpoints: alive means the process answers, ready means database and rulebook."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette

from api.models import ApiKey, RulebookVersion
from api.rulebook_versions import bootstrap


async def test_healthz_answers(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_checks_database_and_rulebook(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body == {
        "ready": True,
        "checks": {"database": "ok", "rulebook": app.state.rulebook.version},
    }


async def test_readyz_is_503_without_a_rulebook(client: httpx.AsyncClient, app: Starlette) -> None:
    rulebook, app.state.rulebook = app.state.rulebook, None
    try:
        response = await client.get("/readyz")
    finally:
        app.state.rulebook = rulebook
    assert response.status_code == 503
    assert response.json()["checks"]["rulebook"] == "not loaded"


async def test_startup_uses_the_active_version_and_bootstraps_only_an_empty_database(
    app: Starlette,
) -> None:
    # Tables are emptied between tests: bootstrap again the way startup does.
    settings = app.state.settings
    row, bootstrapped = await bootstrap(rules_dir=settings.rules_dir)
    again, twice = await bootstrap(rules_dir=settings.rules_dir)
    assert (bootstrapped, twice) == (True, False)
    assert row.id == again.id
    assert row.active
    assert row.published_by == "startup"
    assert await RulebookVersion.filter(active=True).count() == 1
    assert "scores.yaml" in row.files
    # A database with an active version ignores the configured folder entirely.
    other, from_dir = await bootstrap(rules_dir=settings.rules_dir / "missing")
    assert (other.id, from_dir) == (row.id, False)


async def test_database_down_answers_503_graphql_json(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The API-key look-up is the first database call of a request: when it cannot connect,
    the answer is GraphQL-shaped JSON with a code, not a plain-text 500."""

    async def refused(**_: object) -> None:
        raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")

    monkeypatch.setattr(ApiKey, "get_or_none", refused)
    response = await client.post(
        "/graphql",
        json={"query": "{ __typename }"},
        headers={"Authorization": "Bearer lg_abcd1234_secret"},
    )
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/json")
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "service_unavailable"
    assert "5432" not in error["message"]  # nothing about the infrastructure leaks
