"""Fan-out of domain events to subscribers, through the database.

Services write DomainEvent rows in the transaction that caused them (an outbox). Every server
process polls the table for rows newer than the last it saw, only while someone subscribes,
and hands them to its own subscribers, so a handoff created by one worker reaches a
WebSocket held by another, on SQLite and on PostgreSQL alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass, field

from api.models import DomainEvent

log = logging.getLogger(__name__)
BATCH = 500
GAP_WINDOW = 200


@dataclass(eq=False)
class _Subscriber:
    kinds: frozenset[str]
    subject_id: int | None
    queue: asyncio.Queue[DomainEvent] = field(default_factory=lambda: asyncio.Queue(1000))

    def wants(self, event: DomainEvent) -> bool:
        if event.kind not in self.kinds:
            return False
        return self.subject_id is None or event.subject_id == self.subject_id


class EventBus:
    """One per process; a background task polls while there are subscribers."""

    def __init__(self, *, interval_s: float = 0.2) -> None:
        self.interval_s = interval_s
        self._subscribers: set[_Subscriber] = set()
        self._last_id: int | None = None
        self._start = 0
        self._sent: dict[int, None] = {}  # insertion-ordered set of delivered ids
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="leadgate-events")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def subscribe(
        self, *, kinds: Collection[str], subject_id: int | None = None
    ) -> AsyncIterator[DomainEvent]:
        """Events created after the call, of these kinds (and for this subject, if given)."""
        subscriber = _Subscriber(frozenset(kinds), subject_id)
        if not self._subscribers:
            self._last_id = self._start = await _newest_id()
        self._subscribers.add(subscriber)
        self._wake.set()
        try:
            while True:
                yield await subscriber.queue.get()
        finally:
            self._subscribers.discard(subscriber)

    async def _run(self) -> None:
        while True:
            if not self._subscribers:
                self._wake.clear()
                await self._wake.wait()
            try:
                await self._poll()
            except Exception:  # the database may be restarting: keep the bus alive
                log.exception("event poll failed")
            await asyncio.sleep(self.interval_s)

    async def _poll(self) -> None:
        # Ids are taken at insert but become visible at commit, so a lower id can appear
        # after a higher one: re-read a window behind the newest seen, skip what was sent.
        since = (self._last_id or 0) - GAP_WINDOW
        rows = await DomainEvent.filter(id__gt=since).order_by("id").limit(BATCH + GAP_WINDOW)
        for event in rows:
            if event.id in self._sent or (self._last_id is not None and event.id <= self._start):
                continue
            self._sent[event.id] = None
            for subscriber in list(self._subscribers):
                if subscriber.wants(event) and not subscriber.queue.full():
                    subscriber.queue.put_nowait(event)
        while len(self._sent) > 4 * GAP_WINDOW:
            self._sent.pop(next(iter(self._sent)))
        if rows:
            self._last_id = max(self._last_id or 0, rows[-1].id)


async def _newest_id() -> int:
    newest = await DomainEvent.all().order_by("-id").first()
    return newest.id if newest else 0
