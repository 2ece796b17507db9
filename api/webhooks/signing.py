"""Webhook signatures in the Standard Webhooks scheme (https://www.standardwebhooks.com).

Each request carries ``webhook-id`` (the event id, the same on every retry: receivers dedupe on
it), ``webhook-timestamp`` (Unix seconds of this attempt) and ``webhook-signature``:
``v1,`` + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")), where the key is the base64
part of the endpoint secret after ``whsec_``. Receivers recompute it over the raw body, compare
in constant time, and refuse timestamps older than a few minutes (replays).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

SECRET_PREFIX = "whsec_"
TOLERANCE_S = 300


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value for one attempt."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secret: str, message_id: str, body: bytes, now: float | None = None) -> dict[str, str]:
    timestamp = int(now if now is not None else time.time())
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, message_id, timestamp, body),
    }


def verify(secret: str, received: dict[str, str], body: bytes, now: float | None = None) -> bool:
    """What a receiver does: True when one of the signatures matches and the time is recent.

    ``received`` are the request headers (lower-case names). Several space-separated signatures
    may be sent while a secret is rotated; any valid one is enough.
    """
    try:
        message_id = received["webhook-id"]
        timestamp = int(received["webhook-timestamp"])
        signatures = received["webhook-signature"].split()
    except (KeyError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > TOLERANCE_S:
        return False
    expected = sign(secret, message_id, timestamp, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in signatures)
