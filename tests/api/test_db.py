"""The Tortoise configuration: PostgreSQL pools skip asyncpg's reset round trip on release."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
from starlette.applications import Starlette
from tortoise import connections
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.transactions import in_transaction

from api.db import keep_session, tortoise_config
from api.models import Lead


def test_sqlite_stays_a_url() -> None:
    config = tortoise_config("sqlite:///tmp/leadgate.db")
    assert config["connections"]["default"] == "sqlite:///tmp/leadgate.db"


@pytest.mark.parametrize("scheme", ["postgres", "postgresql"], ids=["short", "long"])
def test_a_pg_url_becomes_its_dict_with_the_empty_reset(scheme: str) -> None:
    """Everything the URL says, as tortoise itself reads a URL, plus the reset."""
    url = f"{scheme}://u:p%40ss@db.example:6543/leads?maxsize=7"
    default = tortoise_config(url)["connections"]["default"]
    expected = expand_db_url(url)
    expected["credentials"]["reset"] = keep_session
    assert default == expected
    assert default["credentials"]["password"] == "p@ss"


def _pool() -> Any:
    return connections.get("default")._pool


@pytest.mark.postgres
async def test_a_released_connection_sends_nothing(
    app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request's transaction ends with COMMIT and nothing after it (asyncpg's default reset
    was a sixth round trip of evaluateLead)."""
    assert _pool()._reset is keep_session
    sent: list[str] = []
    execute = asyncpg.Connection.execute

    async def traced(self: asyncpg.Connection, query: str, *args: Any, **kwargs: Any) -> Any:
        sent.append(query)
        return await execute(self, query, *args, **kwargs)

    monkeypatch.setattr(asyncpg.Connection, "execute", traced)
    async with in_transaction():
        await Lead.filter(id=0).update(title="x")
    verbs = {s.strip(" ;").upper() for s in sent}  # background loops may add their own
    assert {"BEGIN", "COMMIT"} <= verbs
    assert not [s for s in sent if "RESET" in s.upper() or "UNLISTEN" in s.upper()]


@pytest.mark.postgres
async def test_a_connection_released_inside_a_transaction_is_rolled_back(app: Starlette) -> None:
    """What the default reset guaranteed and the app relies on still holds: asyncpg rolls back
    an open transaction before the (empty) reset."""
    pool = _pool()
    async with pool.acquire() as conn:
        await conn.execute("BEGIN")
        await conn.execute("UPDATE lead SET title = 'x' WHERE id = 0")
        assert conn.is_in_transaction()
    for _ in range(pool.get_size()):  # whichever connection the pool hands out next
        async with pool.acquire() as conn:
            assert not conn.is_in_transaction()
