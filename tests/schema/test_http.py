"""The GraphQL-over-HTTP view: a client that goes away mid-request is not a server error."""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

import pytest
from starlette.applications import Starlette

from api.auth import create_api_key
from api.enums import Role


async def test_a_client_gone_before_its_body_arrived_is_no_server_error(
    app: Starlette, caplog: pytest.LogCaptureFixture
) -> None:
    """A load generator stopping disconnects with requests in flight: the body read raises
    ClientDisconnect. Nothing is sent back (nobody listens) and nothing is logged as an error."""
    _, token = await create_api_key(name="gone", role=Role.ADMIN)
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/graphql", "raw_path": b"/graphql", "query_string": b"",
        "root_path": "", "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8000),
        "headers": [(b"host", b"leadgate.test"), (b"content-type", b"application/json"),
                    (b"content-length", b"40"), (b"authorization", f"Bearer {token}".encode())],
        "state": {},
    }  # fmt: skip
    parts: list[dict[str, Any]] = [
        {"type": "http.request", "body": b'{"query": "{ __ty', "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return parts.pop(0) if parts else {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    with caplog.at_level(logging.DEBUG):
        await app(scope, receive, send)
    assert sent == []
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
    assert any("went away" in r.getMessage() for r in caplog.records)
    [line] = [r for r in caplog.records if r.name == "leadgate.request"]
    assert line.getMessage() == "POST /graphql 499"  # client closed: not a 500
