"""The dispatcher's durability: a killed process loses nothing, late commits are not skipped."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from starlette.applications import Starlette

from api.models import DomainEvent, WebhookCursor, WebhookDelivery
from api.webhooks.dispatcher import DeliveryPolicy, Dispatcher, fan_out
from api.webhooks.endpoints import EndpointFilters, create_endpoint
from tests.api.webhooks.receiver import running_receiver

POLICY = DeliveryPolicy(timeout_s=5, retry_base_s=0.01, lease_s=30)


def _adjustment(segment: str) -> DomainEvent:
    return DomainEvent(
        kind="targeting_adjusted", payload={"rule": "r", "scope": "segment", "value": segment}
    )


async def test_a_killed_dispatcher_loses_no_deliveries(app: Starlette) -> None:
    with running_receiver() as receiver:
        await create_endpoint(url=f"{receiver.url}/k", filters=EndpointFilters())
        # Written while no dispatcher runs: the outbox keeps them.
        await DomainEvent.bulk_create([_adjustment(s) for s in ("smb", "mid_market", "enterprise")])
        receiver.hold = threading.Event()  # the receiver takes the requests but never answers
        first = Dispatcher(policy=POLICY)
        task = asyncio.create_task(first.run())
        for _ in range(250):
            if len(receiver.requests) == 3:
                break
            await asyncio.sleep(0.02)
        assert len(receiver.requests) == 3
        task.cancel()  # the process dies mid-request: nothing was recorded
        await asyncio.gather(task, return_exceptions=True)
        await first.close()
        assert await WebhookDelivery.filter(status="pending", attempts=0).count() == 3
        receiver.hold.set()
        receiver.hold = None
        await DomainEvent.bulk_create([_adjustment("smb")])  # while it was down

        second = Dispatcher(policy=POLICY)
        try:
            await second.step()  # the claims of the dead process have not expired yet
            after_lease = datetime.now(UTC) + timedelta(seconds=POLICY.lease_s + 1)
            await second.step(now=after_lease)
        finally:
            await second.close()
        ids = [r.headers["webhook-id"] for r in receiver.requests]
        assert len(ids) == 3 + 4
        assert len(set(ids[3:])) == 4
        assert set(ids[:3]) < set(ids[3:])  # every lost request was sent again, same event id
        assert await WebhookDelivery.filter(status="delivered").count() == 4


async def test_a_killed_worker_process_loses_no_deliveries(
    app: Starlette, database_url: str
) -> None:
    """``leadgate webhooks run`` is killed with SIGKILL while its requests are in flight."""
    with running_receiver() as receiver:
        await create_endpoint(url=f"{receiver.url}/killed", filters=EndpointFilters())
        await DomainEvent.bulk_create([_adjustment(s) for s in ("smb", "mid_market")])
        receiver.hold = threading.Event()
        env = {
            **os.environ,
            "LEADGATE_DATABASE_URL": database_url,
            "LEADGATE_WEBHOOK_POLL_INTERVAL_S": "0.05",
            "LEADGATE_WEBHOOK_TIMEOUT_S": "2",  # a lease of 6 s
        }
        worker = subprocess.Popen(  # noqa: ASYNC220  # the process under test
            [sys.executable, "-m", "api.cli", "webhooks", "run"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            for _ in range(1500):
                if len(receiver.requests) == 2 or worker.poll() is not None:
                    break
                await asyncio.sleep(0.02)
        finally:
            worker.kill()
            worker.wait(timeout=30)
        assert len(receiver.requests) == 2
        assert await WebhookDelivery.filter(status="pending", attempts=0).count() == 2
        receiver.hold.set()
        receiver.hold = None
        survivor = Dispatcher(policy=POLICY)
        try:
            await survivor.step(now=datetime.now(UTC) + timedelta(seconds=7))
        finally:
            await survivor.close()
        ids = [r.headers["webhook-id"] for r in receiver.requests]
        assert len(ids) == 4
        assert sorted(ids[:2]) == sorted(ids[2:])
        assert await WebhookDelivery.filter(status="delivered").count() == 2


async def test_an_event_committed_late_is_not_skipped(app: Starlette) -> None:
    """Ids are taken at insert but visible at commit: a lower id can show up after a higher."""
    with running_receiver() as receiver:
        await create_endpoint(url=f"{receiver.url}/late", filters=EndpointFilters())
        for event_id in (1, 2, 4):
            await DomainEvent.create(id=event_id, **_fields("smb"))
        assert await fan_out() == 3
        cursor = await WebhookCursor.get()
        assert (cursor.last_event_id, list(cursor.holes)) == (4, ["3"])
        await DomainEvent.create(id=3, **_fields("late"))
        assert await fan_out() == 1
        cursor = await WebhookCursor.get()
        assert cursor.holes == {}
        events = await WebhookDelivery.all().order_by("event_id").values_list("event_id", flat=True)
        assert cast(list[int], events) == [1, 2, 3, 4]
        # A hole that never fills (a rolled-back transaction) is forgotten after a while.
        await DomainEvent.create(id=6, **_fields("smb"))
        await fan_out()
        assert list((await WebhookCursor.get()).holes) == ["5"]
        await fan_out(now=datetime.now(UTC) + timedelta(hours=1))
        assert (await WebhookCursor.get()).holes == {}


async def test_without_endpoints_the_cursor_skips_ahead(app: Starlette) -> None:
    await DomainEvent.bulk_create([_adjustment("smb") for _ in range(5)])
    assert await fan_out() == 0
    newest = await DomainEvent.all().order_by("-id").first()
    assert newest is not None
    assert (await WebhookCursor.get()).last_event_id == newest.id
    assert await WebhookDelivery.all().count() == 0


def _fields(segment: str) -> dict[str, Any]:
    return {
        "kind": "targeting_adjusted",
        "payload": {"rule": "r", "scope": "segment", "value": segment},
    }
