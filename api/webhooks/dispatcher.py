"""Delivering webhooks from the outbox: fan out, send, retry with backoff, disable.

Two steps, repeated by one task per server process (or ``leadgate webhooks run``):

1. Fan out: read DomainEvent rows past a cursor stored in the database, turn them into one
   WebhookDelivery per matching endpoint (unique per endpoint and event), move the cursor, all
   in one transaction. A crash before the commit re-reads the same rows; after it, the
   deliveries are durable. Ids a slower transaction took but had not committed yet are kept
   as "holes" and read again until they show up (or age out: rolled-back ids never do).
2. Send: claim due deliveries (``FOR UPDATE SKIP LOCKED`` on PostgreSQL) by pushing their next
   attempt a lease into the future, POST them with httpx, record each attempt. A process killed
   mid-send leaves the claim to expire, and another attempt follows: at least once, with the
   same ``webhook-id`` so receivers deduplicate.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from api.locking import for_update, on_postgres
from api.models import DomainEvent, WebhookAttempt, WebhookCursor, WebhookDelivery, WebhookEndpoint
from api.settings import Settings
from api.webhooks import signing
from api.webhooks.catalogue import message_id, translate
from api.webhooks.endpoints import matches

log = logging.getLogger(__name__)
FAN_OUT_BATCH = 500
HOLE_TTL = timedelta(minutes=10)
MAX_HOLES = 5000


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    """Retry and disable rules (from LEADGATE_WEBHOOK_* settings)."""

    timeout_s: float = 10.0
    max_attempts: int = 8
    retry_base_s: float = 10.0
    retry_max_s: float = 6 * 3600
    disable_after: int = 20
    concurrency: int = 16
    lease_s: float = 60.0

    @classmethod
    def from_settings(cls, settings: Settings) -> DeliveryPolicy:
        return cls(
            timeout_s=settings.webhook_timeout_s,
            max_attempts=settings.webhook_max_attempts,
            retry_base_s=settings.webhook_retry_base_s,
            disable_after=settings.webhook_disable_after,
            concurrency=settings.webhook_concurrency,
            lease_s=max(settings.webhook_timeout_s * 3, 5.0),
        )

    def backoff(self, attempts: int) -> timedelta:
        """base · 4^(n-1), capped, ±10 % jitter: 10 s, 40 s, 2.7 min, 11 min, 43 min, 2.8 h…"""
        delay = min(self.retry_base_s * 4 ** (attempts - 1), self.retry_max_s)
        return timedelta(seconds=delay * random.uniform(0.9, 1.1))  # not crypto


@dataclass(slots=True)
class _Sent:
    delivery: WebhookDelivery
    status_code: int | None
    error: str | None
    duration_ms: float
    finished: float

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class Dispatcher:
    """One per process. ``step`` does one round; ``run`` repeats it until cancelled."""

    def __init__(
        self,
        *,
        policy: DeliveryPolicy,
        interval_s: float = 0.5,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.policy = policy
        self.interval_s = interval_s
        self._client = client or httpx.AsyncClient(timeout=policy.timeout_s)

    async def close(self) -> None:
        await self._client.aclose()

    async def run(self) -> None:
        """Steps until cancelled; while nobody listens and the outbox has not grown since a
        step moved the cursor past it, one probe statement per interval instead of a step's
        two transactions (eight statements: a busy server's evaluations paid for them)."""
        idle_at: object = _STEP  # the newest event id when a step last found no endpoint
        while True:
            try:
                listeners, newest = await _probe()
                busy = 0
                if listeners or newest != idle_at:
                    busy = await self.step()
                    idle_at = _STEP if listeners else newest
            except Exception:  # the database may be restarting: keep the dispatcher alive
                log.exception("webhook dispatch failed")
                busy, idle_at = 0, _STEP
            if not busy:
                await asyncio.sleep(self.interval_s)

    async def step(self, now: datetime | None = None) -> int:
        """Fan out new events, then send what is due; returns how much work was done."""
        fanned = await fan_out(now=now)
        sent = await self.send_due(now=now)
        return fanned + sent

    async def send_due(self, now: datetime | None = None) -> int:
        now = now or datetime.now(UTC)
        endpoints, due = await _claim(now, self.policy)
        if not due:
            return 0
        gate = asyncio.Semaphore(self.policy.concurrency)

        async def send(delivery: WebhookDelivery) -> _Sent:
            async with gate:
                return await self._send(endpoints[delivery.endpoint_id], delivery)  # type: ignore[attr-defined]

        results = await asyncio.gather(*(send(d) for d in due))
        await _record(list(results), endpoints, self.policy)
        return len(results)

    async def _send(self, endpoint: WebhookEndpoint, delivery: WebhookDelivery) -> _Sent:
        body = json.dumps(delivery.payload, separators=(",", ":"), ensure_ascii=False).encode()
        headers = signing.headers(endpoint.secret, message_id(delivery.event_id), body)
        started = time.perf_counter()
        status_code: int | None = None
        error: str | None = None
        try:
            response = await self._client.post(endpoint.url, content=body, headers=headers)
            status_code = response.status_code
            if not 200 <= status_code < 300:
                error = f"HTTP {status_code}: {response.text[:200]}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        finished = time.perf_counter()
        return _Sent(delivery, status_code, error, (finished - started) * 1000, finished)


_STEP = object()
"""No step has found the outbox idle yet: the next round steps."""
_PROBE = (
    "SELECT EXISTS (SELECT 1 FROM webhook_endpoint WHERE active), "
    "(SELECT MAX(id) FROM domain_event)"
)


async def _probe() -> tuple[bool, int | None]:
    """Whether an endpoint is active, and the newest outbox id: one statement, no transaction.

    With no endpoint a step only moves the cursor to the newest event (fan_out) and claims
    nothing (_claim): after one step past ``newest``, another is needed only once it grows."""
    _, rows = await DomainEvent._choose_db().execute_query(_PROBE)
    listeners, newest = rows[0][0], rows[0][1]
    return bool(listeners), None if newest is None else int(newest)


async def fan_out(*, now: datetime | None = None) -> int:
    """Turn outbox rows past the cursor into deliveries; returns the number of rows read."""
    now = now or datetime.now(UTC)
    async with in_transaction():
        cursor = await _cursor()
        endpoints = await WebhookEndpoint.filter(active=True)
        if not endpoints:  # nobody listens: skip ahead instead of reading the whole outbox
            newest = await DomainEvent.all().order_by("-id").first()
            if newest is not None and newest.id > cursor.last_event_id:
                cursor.last_event_id, cursor.holes = newest.id, {}
                await cursor.save(update_fields=["last_event_id", "holes", "updated_at"])
            return 0
        rows = (
            await DomainEvent.filter(id__gt=cursor.last_event_id)
            .order_by("id")
            .limit(FAN_OUT_BATCH)
        )
        late = (
            await DomainEvent.filter(id__in=[int(i) for i in cursor.holes]) if cursor.holes else []
        )
        events = [*late, *rows]
        if events:
            await _deliveries(events, endpoints, now)
        _move(cursor, rows, late, now)
        await cursor.save(update_fields=["last_event_id", "holes", "updated_at"])
        return len(events)


async def _cursor() -> WebhookCursor:
    cursor = await for_update(WebhookCursor.filter(id=1)).first()
    if cursor is not None:
        return cursor
    try:
        async with in_transaction():
            await WebhookCursor.create(id=1, last_event_id=0)
    except IntegrityError:
        pass  # another process created it
    return await for_update(WebhookCursor.filter(id=1)).get()


def _move(
    cursor: WebhookCursor, rows: list[DomainEvent], late: list[DomainEvent], now: datetime
) -> None:
    holes = {k: v for k, v in cursor.holes.items() if datetime.fromisoformat(v) > now - HOLE_TTL}
    for event in late:
        holes.pop(str(event.id), None)
    expected = cursor.last_event_id + 1
    for event in rows:
        for missing in range(expected, event.id):
            holes[str(missing)] = now.isoformat()
        expected = event.id + 1
    if rows:
        cursor.last_event_id = rows[-1].id
    cursor.holes = dict(sorted(holes.items(), key=lambda kv: int(kv[0]))[-MAX_HOLES:])


async def _deliveries(
    events: list[DomainEvent], endpoints: list[WebhookEndpoint], now: datetime
) -> None:
    created = {e.id: e.created_at for e in events}
    rows = [
        WebhookDelivery(
            endpoint_id=endpoint.id,
            event_id=event.event_id,
            event_type=event.type,
            payload=event.body,
            next_attempt_at=now,
        )
        for event in await translate(events)
        for endpoint in endpoints
        if created[event.event_id] >= endpoint.created_at and matches(endpoint, event)
    ]
    if rows:
        await WebhookDelivery.bulk_create(rows, ignore_conflicts=True, batch_size=500)


async def _claim(
    now: datetime, policy: DeliveryPolicy
) -> tuple[dict[int, WebhookEndpoint], list[WebhookDelivery]]:
    """Due deliveries of active endpoints, leased to this process."""
    async with in_transaction():
        endpoints = {e.id: e for e in await WebhookEndpoint.filter(active=True)}
        if not endpoints:
            return endpoints, []
        query = (
            WebhookDelivery.filter(
                status="pending", next_attempt_at__lte=now, endpoint_id__in=list(endpoints)
            )
            .order_by("next_attempt_at", "id")
            .limit(policy.concurrency * 4)
        )
        if on_postgres():
            query = query.select_for_update(skip_locked=True)
        due = await query
        if due:
            lease = now + timedelta(seconds=policy.lease_s)
            await WebhookDelivery.filter(id__in=[d.id for d in due]).update(next_attempt_at=lease)
    return endpoints, due


async def _record(
    results: list[_Sent], endpoints: dict[int, WebhookEndpoint], policy: DeliveryPolicy
) -> None:
    now = datetime.now(UTC)
    attempts: list[WebhookAttempt] = []
    for sent in results:
        delivery = sent.delivery
        delivery.attempts += 1
        delivery.last_status_code = sent.status_code
        delivery.last_error = sent.error
        if sent.ok:
            delivery.status, delivery.delivered_at = "delivered", now
        elif delivery.attempts >= policy.max_attempts:
            delivery.status = "failed"
        else:
            delivery.next_attempt_at = now + policy.backoff(delivery.attempts)
        attempts.append(
            WebhookAttempt(
                delivery_id=delivery.id,
                status_code=sent.status_code,
                error=sent.error,
                duration_ms=sent.duration_ms,
                attempted_at=now,
            )
        )
    async with in_transaction():
        await WebhookAttempt.bulk_create(attempts, batch_size=500)
        await WebhookDelivery.bulk_update(
            [s.delivery for s in results],
            fields=["status", "attempts", "next_attempt_at", "last_status_code", "last_error",
                    "delivered_at"],
            batch_size=500,
        )  # fmt: skip
        await _count_failures(results, endpoints, policy, now)


async def _count_failures(
    results: list[_Sent],
    endpoints: dict[int, WebhookEndpoint],
    policy: DeliveryPolicy,
    now: datetime,
) -> None:
    """Consecutive failed attempts per endpoint; past the limit the endpoint is disabled."""
    for endpoint_id in {s.delivery.endpoint_id for s in results}:  # type: ignore[attr-defined]
        endpoint = endpoints[endpoint_id]
        count = endpoint.consecutive_failures
        mine = [s for s in results if s.delivery.endpoint_id == endpoint_id]  # type: ignore[attr-defined]
        for sent in sorted(mine, key=lambda s: s.finished):
            count = 0 if sent.ok else count + 1
        changes: dict[str, object] = {"consecutive_failures": count}
        if count >= policy.disable_after:
            changes |= {
                "active": False,
                "disabled_at": now,
                "disabled_reason": f"{count} failed attempts in a row",
            }
            log.warning("webhook endpoint %s disabled after %s failures", endpoint_id, count)
        if count != endpoint.consecutive_failures or "active" in changes:
            await WebhookEndpoint.filter(id=endpoint_id).update(**changes)
