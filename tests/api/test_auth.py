"""API keys: verified tokens are remembered briefly; revocation still takes effect."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette

from api.auth import VERIFIED, authenticate, create_api_key, revoke_api_key
from api.enums import Role
from api.errors import PermissionDenied
from api.models import ApiKey
from tests.conftest import SqlCounter


async def test_a_verified_token_is_not_looked_up_again_within_the_ttl(
    app: Starlette, sql_counter: SqlCounter
) -> None:
    _, token = await create_api_key(name="busy", role=Role.VIEWER)
    first = await authenticate(token)
    sql_counter.reset()
    assert await authenticate(token) == first
    assert sql_counter.statements == []


async def test_a_key_revoked_here_is_refused_at_once(app: Starlette) -> None:
    _, token = await create_api_key(name="gone", role=Role.VIEWER)
    await authenticate(token)
    await revoke_api_key(prefix=token.split("_")[1])
    with pytest.raises(PermissionDenied, match="revoked"):
        await authenticate(token)


async def test_a_key_revoked_elsewhere_is_refused_once_the_ttl_passed(
    app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    key, token = await create_api_key(name="elsewhere", role=Role.VIEWER)
    await authenticate(token)
    await ApiKey.filter(id=key.id).update(revoked_at=key.created_at)  # another process
    await authenticate(token)  # remembered: still accepted within the TTL
    later = VERIFIED.clock() + VERIFIED.ttl_s + 0.1
    monkeypatch.setattr(VERIFIED, "clock", lambda: later)
    with pytest.raises(PermissionDenied, match="revoked"):
        await authenticate(token)


async def test_a_wrong_secret_is_refused_and_never_remembered(app: Starlette) -> None:
    _, token = await create_api_key(name="right", role=Role.VIEWER)
    wrong = token[:-4] + ("aaaa" if not token.endswith("aaaa") else "bbbb")
    for _ in range(2):
        with pytest.raises(PermissionDenied, match="unknown"):
            await authenticate(wrong)
