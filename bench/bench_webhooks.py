"""Benchmark: webhook fan-out, deliveries/s to a local receiver and latency after the event.

A receiver process (uvicorn, a bare ASGI app answering 200) listens on 127.0.0.1. On a fresh
PostgreSQL database with one endpoint:

- throughput: a backlog of outbox events is written at once, then one dispatcher (the code the
  server runs) fans it out and delivers it; deliveries/s = events / time until all delivered;
- latency: events are written one every 20 ms while the dispatcher runs with the server's
  default poll interval (0.5 s); latency = delivered_at - event created_at (both database
  clock), reported as p50 / p95 / max.

    .venv/bin/python bench/bench_webhooks.py            # 2,000-event backlog, 5 runs
    .venv/bin/python bench/bench_webhooks.py --smoke    # 100 events, one run, for CI
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from tortoise import Tortoise

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.db import tortoise_config
from api.models import DomainEvent, WebhookDelivery
from api.webhooks.dispatcher import DeliveryPolicy, Dispatcher
from api.webhooks.endpoints import EndpointFilters, create_endpoint
from bench.integration_setup import fresh_database, spread

ROOT = Path(__file__).resolve().parents[1]


async def receiver_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Reads the body and answers 200: the cheapest honest receiver."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _event() -> DomainEvent:
    return DomainEvent(
        kind="targeting_adjusted", payload={"rule": "r", "scope": "segment", "value": "smb"}
    )


async def _delivered() -> int:
    return await WebhookDelivery.filter(status="delivered").count()


async def throughput(events: int) -> float:
    dispatcher = Dispatcher(policy=DeliveryPolicy(concurrency=16), interval_s=0.05)
    try:
        base = await _delivered()
        await DomainEvent.bulk_create([_event() for _ in range(events)], batch_size=1000)
        began = time.perf_counter()
        while await _delivered() - base < events:
            if not await dispatcher.step():
                await asyncio.sleep(0.01)
        return events / (time.perf_counter() - began)
    finally:
        await dispatcher.close()


async def latency(events: int) -> list[float]:
    dispatcher = Dispatcher(policy=DeliveryPolicy(), interval_s=0.5)  # the server's defaults
    task = asyncio.create_task(dispatcher.run())
    try:
        first = await DomainEvent.create(**_fields())
        for _ in range(events - 1):
            await asyncio.sleep(0.02)
            await DomainEvent.create(**_fields())
        delivered = WebhookDelivery.filter(event_id__gte=first.id, status="delivered")
        while await delivered.count() < events:  # noqa: ASYNC110  # the state is in the database
            await asyncio.sleep(0.05)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await dispatcher.close()
    created = dict(await DomainEvent.filter(id__gte=first.id).values_list("id", "created_at"))
    rows = await WebhookDelivery.filter(event_id__gte=first.id).values_list(
        "event_id", "delivered_at"
    )
    return sorted((done - created[eid]).total_seconds() * 1000 for eid, done in rows)


def _fields() -> dict[str, Any]:
    return {
        "kind": "targeting_adjusted",
        "payload": {"rule": "r", "scope": "segment", "value": "x"},
    }


async def run(events: int, runs: int) -> tuple[list[float], list[list[float]]]:
    port = _free_port()
    receiver = subprocess.Popen(  # noqa: ASYNC220  # started once, before anything is timed
        [sys.executable, "-m", "uvicorn", "bench.bench_webhooks:receiver_app", "--port",
         str(port), "--log-level", "warning", "--no-access-log"],
        cwd=ROOT,
    )  # fmt: skip
    try:
        async with httpx.AsyncClient() as client:
            for _ in range(100):
                try:
                    await client.post(f"http://127.0.0.1:{port}/", content=b"{}")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
        async with fresh_database("postgres", "leadgate_bench_webhooks") as url:
            await Tortoise.init(config=tortoise_config(url))
            try:
                await create_endpoint(
                    url=f"http://127.0.0.1:{port}/hook", filters=EndpointFilters()
                )
                rates, latencies = [], []
                for _ in range(runs):
                    rate = await throughput(events)
                    lat = await latency(max(events // 20, 10))
                    print(f"{rate:8,.0f} deliveries/s; latency p50 {_pct(lat, 50):.0f} ms",
                          flush=True)  # fmt: skip
                    rates.append(rate)
                    latencies.append(lat)
            finally:
                await Tortoise.close_connections()
    finally:
        receiver.terminate()
        receiver.wait(timeout=30)
    return rates, latencies


def _pct(values: list[float], pct: int) -> float:
    return values[min(len(values) - 1, int(len(values) * pct / 100))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a few seconds, for CI")
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if args.smoke:
        args.events, args.runs = 100, 1
    rates, latencies = asyncio.run(run(args.events, args.runs))
    merged = sorted(v for run_values in latencies for v in run_values)
    print(f"backlog of {args.events} events, deliveries/s min / median / max: {spread(rates)}")
    print(
        f"latency after the event (ms, {len(merged)} events, poll 0.5 s): "
        f"p50 {_pct(merged, 50):.0f}, p95 {_pct(merged, 95):.0f}, max {merged[-1]:.0f}; "
        f"median of run p50s {statistics.median(_pct(v, 50) for v in latencies):.0f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
