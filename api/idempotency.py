"""Idempotent trigger mutations: a replayed key returns the first result, a reused key with
another input is refused. Keys are scoped per caller (``SCOPE``, set by the GraphQL layer for
each request to its API key), so one key's results never reach another."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from api.errors import IdempotencyMismatch
from api.models import IdempotencyRecord

Response = dict[str, Any]

SCOPE: ContextVar[str] = ContextVar("idempotency_scope", default="")
"""Who is calling: ``key:<id>`` for an API key, the principal's name otherwise."""


def request_hash(request: dict[str, Any]) -> str:
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def _replay(operation: str, key: str, digest: str) -> Response | None:
    record = await IdempotencyRecord.get_or_none(scope=SCOPE.get(), operation=operation, key=key)
    if record is None:
        return None
    if record.request_hash != digest:
        raise IdempotencyMismatch(
            f"idempotency key {key!r} was already used for {operation} with a different input",
            field="idempotencyKey",
            suggestion="use a fresh key for a different request",
        )
    return record.response


async def run_idempotent(
    *,
    key: str | None,
    operation: str,
    request: dict[str, Any],
    action: Callable[[], Awaitable[Response]],
) -> Response:
    """Run ``action`` once per (caller, operation, key).

    The record is written in the action's transaction, so a concurrent duplicate loses on the
    unique key, rolls its own work back, and returns the winner's result.
    """
    if key is None:
        return await action()
    digest = request_hash(request)
    if (previous := await _replay(operation, key, digest)) is not None:
        return previous
    try:
        async with in_transaction():
            response = await action()
            await IdempotencyRecord.create(
                scope=SCOPE.get(),
                key=key,
                operation=operation,
                request_hash=digest,
                response=response,
            )
    except IntegrityError:
        if (previous := await _replay(operation, key, digest)) is not None:
            return previous
        raise
    return response
