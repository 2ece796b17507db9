"""API keys: ``lg_<prefix>_<secret>``. The prefix finds the key, only a hash of the secret is
stored, and the full token is shown once, at creation."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from api.enums import Role
from api.errors import InvalidInput, NotFound, PermissionDenied
from api.models import ApiKey, SalesRep

TOKEN_PREFIX = "lg"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a role, and for sales keys bound to a rep, that rep."""

    role: Role
    key_id: int | None = None
    rep_id: int | None = None
    name: str = "anonymous"
    prefix: str | None = None
    """The key's public prefix (logged; the secret never is)."""

    @property
    def actor(self) -> str:
        return f"key:{self.name}" if self.key_id else self.name


LOCAL_ADMIN = Principal(role=Role.ADMIN, name="local-admin")


def _hash(secret: str) -> str:
    # The secret is 256 random bits: a plain SHA-256 is enough (no dictionary to attack).
    return hashlib.sha256(secret.encode()).hexdigest()


async def create_api_key(
    *, name: str, role: Role, rep_email: str | None = None
) -> tuple[ApiKey, str]:
    """Returns the stored key and the token. The token is never stored and cannot be shown again."""
    rep_id = None
    if rep_email is not None:
        if role != Role.SALES:
            raise InvalidInput("only sales keys can be bound to a rep", field="rep")
        rep = await SalesRep.get_or_none(email=rep_email.lower())
        if rep is None:
            raise NotFound(f"no sales rep with email {rep_email}", field="rep")
        rep_id = rep.id
    prefix = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    key = await ApiKey.create(
        name=name, prefix=prefix, secret_hash=_hash(secret), role=role, rep_id=rep_id
    )
    return key, f"{TOKEN_PREFIX}_{prefix}_{secret}"


async def revoke_api_key(*, prefix: str) -> ApiKey:
    key = await ApiKey.get_or_none(prefix=prefix)
    if key is None:
        raise NotFound(f"no API key with prefix {prefix}", field="prefix")
    if key.revoked_at is None:
        key.revoked_at = datetime.now(UTC)
        await key.save(update_fields=["revoked_at"])
    VERIFIED.clear()  # this process refuses it now; others within VERIFIED.ttl_s
    return key


# Last use is written at most this often per key: one UPDATE a minute, not one per request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


async def _touch(key: ApiKey) -> None:
    now = datetime.now(UTC)
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
        await ApiKey.filter(id=key.id).update(last_used_at=now)


class VerifiedKeys:
    """Principals of tokens verified in the last ``ttl_s`` seconds, by a hash of the token.

    Every request used to read its key row (and compare hashes) before anything else; a
    client sending many requests now costs one look-up per ``ttl_s``. A key revoked through
    this process is refused at once (:func:`revoke_api_key` clears the map); revoked
    elsewhere (another server process, the CLI), within ``ttl_s``. Bounded: least recently
    used tokens go first."""

    def __init__(self, ttl_s: float, limit: int) -> None:
        self.ttl_s = ttl_s
        self.limit = limit
        self._items: OrderedDict[bytes, tuple[float, Principal]] = OrderedDict()
        self.clock = time.monotonic

    def get(self, digest: bytes) -> Principal | None:
        found = self._items.get(digest)
        if found is None:
            return None
        if found[0] <= self.clock():
            del self._items[digest]
            return None
        self._items.move_to_end(digest)
        return found[1]

    def put(self, digest: bytes, principal: Principal) -> None:
        self._items[digest] = (self.clock() + self.ttl_s, principal)
        self._items.move_to_end(digest)
        while len(self._items) > self.limit:
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()


VERIFIED: Final = VerifiedKeys(ttl_s=5.0, limit=10_000)


async def authenticate(token: str) -> Principal:
    """The principal behind a bearer token, or PermissionDenied saying what is wrong."""
    digest = hashlib.sha256(token.encode()).digest()
    known = VERIFIED.get(digest)
    if known is not None:
        return known
    principal = await _verify(token)
    VERIFIED.put(digest, principal)
    return principal


async def _verify(token: str) -> Principal:
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
        raise PermissionDenied(
            "malformed API key", suggestion="send `Authorization: Bearer lg_<prefix>_<secret>`"
        )
    _, prefix, secret = parts
    key = await ApiKey.get_or_none(prefix=prefix)
    if key is None or not hmac.compare_digest(key.secret_hash, _hash(secret)):
        raise PermissionDenied("unknown API key")
    if key.revoked_at is not None:
        raise PermissionDenied("this API key was revoked", suggestion="ask an admin for a new one")
    await _touch(key)
    return Principal(
        role=key.role,
        key_id=key.id,
        rep_id=key.rep_id,  # type: ignore[attr-defined]
        name=key.name,
        prefix=key.prefix,
    )


async def key_is_active(key_id: int) -> bool:
    """Whether a key still exists and is not revoked (open subscriptions re-check this)."""
    return await ApiKey.filter(id=key_id, revoked_at__isnull=True).exists()
