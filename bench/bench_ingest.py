"""Benchmark: Segment-spec ingest, events/s through HTTP on one server process (PostgreSQL).

Starts ``leadgate serve`` (one uvicorn process, one engine worker) on a fresh database, creates
the leads with ``identify`` batches, then times batches of 100 ``track`` calls (mapped events
spread over the leads) sent one after the other: each batch is stored and its affected leads
evaluated before the answer, as in production.

    .venv/bin/python bench/bench_ingest.py            # 1,000 leads, 5 runs of 20 batches
    .venv/bin/python bench/bench_ingest.py --smoke    # 100 leads, one run of 2 batches, for CI
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from tortoise import Tortoise

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.auth import create_api_key
from api.db import tortoise_config
from api.enums import Role
from api.ingest.segment import event_types
from api.ingest.service import ingest
from api.settings import DEMO_RULES_DIR
from bench.integration_setup import fresh_database, spread

EVENTS = ("Page Viewed", "Email Opened", "Email Link Clicked", "Content Downloaded",
          "Pricing Page Viewed", "Webinar Attended")  # fmt: skip
BATCH = 100


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _key(url: str) -> str:
    await Tortoise.init(config=tortoise_config(url))
    try:
        _, token = await create_api_key(name="bench", role=Role.INTEGRATION)
    finally:
        await Tortoise.close_connections()
    return token


async def _wait_ready(client: httpx.AsyncClient, timeout_s: float = 600) -> None:
    """Until the server is ready: a loaded machine (CI runs the smokes beside the tests) can
    take minutes to start it, where 30 s made the smoke fail without a fault in it."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if (await client.get("/readyz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError("the server did not become ready")


def _track_batch(rng: random.Random, leads: int) -> dict[str, object]:
    now = datetime.now(UTC)
    return {
        "batch": [
            {"type": "track", "messageId": uuid.uuid4().hex, "userId": f"u{rng.randrange(leads)}",
             "event": rng.choice(EVENTS),
             "timestamp": (now - timedelta(minutes=rng.randrange(60 * 24 * 20))).isoformat()}
            for _ in range(BATCH)
        ]
    }  # fmt: skip


async def run(leads: int, batches: int, runs: int) -> tuple[list[float], list[float]]:
    async with fresh_database("postgres", "leadgate_bench_ingest") as url:
        key = await _key(url)
        port = _free_port()
        env = {
            **os.environ,
            "LEADGATE_DATABASE_URL": url,
            "LEADGATE_RULES_DIR": str(DEMO_RULES_DIR),
            "LEADGATE_LOG_LEVEL": "warning",
        }
        server = subprocess.Popen(  # noqa: ASYNC220  # started once, before anything is timed
            [sys.executable, "-m", "api.cli", "serve", "--port", str(port)], env=env
        )
        try:
            headers = {"Authorization": f"Bearer {key}"}
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=120
            ) as client:
                await _wait_ready(client)
                for start in range(0, leads, BATCH):
                    identify = {"batch": [
                        {"type": "identify", "messageId": f"i{i}", "userId": f"u{i}",
                         "traits": {"email": f"u{i}@c{i % 97}.example", "title": "VP Marketing",
                                    "company": {"employees": 50 * (i % 40 + 1)}}}
                        for i in range(start, min(start + BATCH, leads))
                    ]}  # fmt: skip
                    (await client.post("/ingest/segment", json=identify)).raise_for_status()
                rng = random.Random(11)
                rates = []
                for _ in range(runs):
                    bodies = [_track_batch(rng, leads) for _ in range(batches)]
                    began = time.perf_counter()
                    for body in bodies:
                        response = await client.post("/ingest/segment", json=body)
                        response.raise_for_status()
                        assert response.json()["summary"]["ok"] == BATCH, response.text
                    rate = batches * BATCH / (time.perf_counter() - began)
                    print(f"{rate:8,.0f} events/s", flush=True)
                    rates.append(rate)
        finally:
            server.terminate()
            server.wait(timeout=30)
        stored = await _store_only(url, leads, batches, runs, rng)
    return rates, stored


async def _store_only(
    url: str, leads: int, batches: int, runs: int, rng: random.Random
) -> list[float]:
    """The same batches through the ingest service in-process, without evaluating: what
    storing costs, apart from HTTP and the rule engine."""
    await Tortoise.init(config=tortoise_config(url))
    types = event_types({})
    rates = []
    try:
        for _ in range(runs):
            bodies = [_track_batch(rng, leads) for _ in range(batches)]
            began = time.perf_counter()
            for body in bodies:
                result = await ingest(body=body, event_types=types, engine=None)
                assert result.as_json()["summary"]["ok"] == BATCH
            rates.append(batches * BATCH / (time.perf_counter() - began))
    finally:
        await Tortoise.close_connections()
    return rates


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a few seconds, for CI")
    parser.add_argument("--leads", type=int, default=1000)
    parser.add_argument("--batches", type=int, default=20, help="batches of 100 per run")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if args.smoke:
        args.leads, args.batches, args.runs = 100, 2, 1
    rates, stored = asyncio.run(run(args.leads, args.batches, args.runs))
    print(f"{args.batches} batches of {BATCH} track calls over {args.leads} leads, events/s "
          f"min / median / max: HTTP with evaluation {spread(rates)}; "
          f"stored only, in-process {spread(stored)}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
