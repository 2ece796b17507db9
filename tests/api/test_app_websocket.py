"""WebSocket authentication in api/app.py: a wrong key is wrong in every mode, and revoking a
key closes its open subscriptions within seconds (4403)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.routing import Route
from websockets.exceptions import ConnectionClosed

from api.app import LeadgateGraphQL
from api.auth import create_api_key, revoke_api_key
from api.enums import Role
from api.models import SalesRep
from tests.conftest import GraphQLClient
from tests.schema.test_subscriptions import (
    HANDOFFS,
    make_mql,
    next_message,
    open_session,
    rep,
    subscribe,
    ws_url,
)

__all__ = ["rep", "ws_url"]  # fixtures shared with the subscription tests


def _view(app: Starlette) -> LeadgateGraphQL:
    [route] = [r for r in app.routes if isinstance(r, Route) and r.path == "/graphql"]
    view = route.endpoint
    assert isinstance(view, LeadgateGraphQL)
    return view


@pytest.fixture
def dev_mode(app: Starlette) -> Iterator[None]:
    """The served view in `make run`'s mode: dev, anonymous requests act as admin."""
    view = _view(app)
    saved = view.settings
    view.settings = saved.model_copy(update={"dev": True, "dev_anonymous_admin": True})
    yield
    view.settings = saved


@pytest.fixture
def quick_key_checks(app: Starlette) -> Iterator[None]:
    view = _view(app)
    saved = view.settings
    view.settings = saved.model_copy(update={"key_check_interval_s": 0.2})
    yield
    view.settings = saved


@pytest.mark.usefixtures("dev_mode")
async def test_a_bad_key_in_connection_init_is_refused_in_dev_mode(ws_url: str) -> None:
    _, token = await create_api_key(name="gone", role=Role.ADMIN)
    await revoke_api_key(prefix=token.split("_")[1])
    for bad in ("lg_nope_nope", token, "not-a-key"):
        ws = await open_session(ws_url, bad)
        with pytest.raises(ConnectionClosed) as closed:
            await next_message(ws)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4403


@pytest.mark.usefixtures("dev_mode")
async def test_dev_mode_without_a_key_still_acts_as_admin(ws_url: str) -> None:
    ws = await open_session(ws_url, None)
    try:
        ack = await next_message(ws)
        assert ack["type"] == "connection_ack"
    finally:
        await ws.close()


@pytest.mark.usefixtures("quick_key_checks")
async def test_revoking_a_key_closes_its_open_subscription(
    ws_url: str, gql: GraphQLClient, rep: SalesRep
) -> None:
    key, token = await create_api_key(name="ana", role=Role.SALES, rep_email=rep.email)
    ws = await open_session(ws_url, token)
    try:
        await subscribe(ws, HANDOFFS)
        await revoke_api_key(prefix=key.prefix)
        started = time.monotonic()
        with pytest.raises(ConnectionClosed) as closed:
            await next_message(ws)  # a "next" here would be a leak: the key is revoked
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4403
        assert time.monotonic() - started < 3
        await make_mql(gql)  # the next handoff (with the lead's email) reaches nobody
    finally:
        await ws.close()
