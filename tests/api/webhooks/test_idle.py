"""An idle dispatcher probes the outbox with one statement instead of stepping every interval."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

from starlette.applications import Starlette

from api.models import DomainEvent, WebhookCursor, WebhookDelivery
from api.webhooks.dispatcher import DeliveryPolicy, Dispatcher
from api.webhooks.endpoints import EndpointFilters, create_endpoint
from tests.api.webhooks.receiver import running_receiver

POLICY = DeliveryPolicy(timeout_s=5, retry_base_s=0.01, lease_s=30)
INTERVAL_S = 0.01


def _event() -> DomainEvent:
    return DomainEvent(
        kind="targeting_adjusted", payload={"rule": "r", "scope": "segment", "value": "smb"}
    )


@asynccontextmanager
async def _running() -> AsyncIterator[list[int]]:
    """A dispatcher's run loop; yields the results of the steps it took so far."""
    dispatcher = Dispatcher(policy=POLICY, interval_s=INTERVAL_S)
    steps: list[int] = []
    step = dispatcher.step

    async def counted(now: datetime | None = None) -> int:
        steps.append(await step(now))
        return steps[-1]

    dispatcher.step = counted  # type: ignore[method-assign]
    task = asyncio.create_task(dispatcher.run())
    try:
        yield steps
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await dispatcher.close()


async def _until(check: Callable[[], bool], rounds: int = 500) -> None:
    for _ in range(rounds):
        if check():
            return
        await asyncio.sleep(INTERVAL_S)
    raise AssertionError("not reached")


async def _cursor() -> int:
    cursor = await WebhookCursor.get_or_none(id=1)
    return cursor.last_event_id if cursor is not None else 0


async def test_nobody_listening_and_nothing_new_takes_no_step(app: Starlette) -> None:
    await DomainEvent.bulk_create([_event() for _ in range(3)])
    async with _running() as steps:
        await _until(lambda: len(steps) >= 1)
        await asyncio.sleep(30 * INTERVAL_S)  # thirty rounds or so
        assert len(steps) == 1
        newest = await DomainEvent.all().order_by("-id").first()
        assert newest is not None
        assert await _cursor() == newest.id  # the one step skipped the cursor ahead

        await DomainEvent.bulk_create([_event()])  # the outbox grew: one more step
        await _until(lambda: len(steps) >= 2)
        await asyncio.sleep(30 * INTERVAL_S)
        assert len(steps) == 2
        assert await _cursor() == newest.id + 1
    assert await WebhookDelivery.all().count() == 0


async def test_an_empty_outbox_is_idle_too(app: Starlette) -> None:
    async with _running() as steps:
        await _until(lambda: len(steps) >= 1)
        await asyncio.sleep(30 * INTERVAL_S)
        assert len(steps) == 1


async def test_an_endpoint_added_while_idle_gets_what_follows(app: Starlette) -> None:
    with running_receiver() as receiver:
        await DomainEvent.bulk_create([_event()])  # before the endpoint: never delivered
        async with _running() as steps:
            await _until(lambda: len(steps) >= 1)
            await create_endpoint(url=f"{receiver.url}/idle", filters=EndpointFilters())
            await DomainEvent.bulk_create([_event()])
            await _until(lambda: len(receiver.requests) >= 1)
            rounds = len(steps)
            await asyncio.sleep(10 * INTERVAL_S)
            assert len(steps) > rounds  # someone listens: a step every round, as before
        assert len(receiver.requests) == 1
        assert await WebhookDelivery.filter(status="delivered").count() == 1
