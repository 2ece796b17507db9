"""Bulk-job throughput with 1 vs 2 ``leadgate worker`` processes (procrastinate, PostgreSQL).

Seeds the demo data set (``--leads``) in a throw-away PostgreSQL database, runs one unmeasured
job over every lead (so the measured jobs do the same work: every decision is in force), then
per run and per worker count (interleaved: 1, 2, then 2, 1, ...) starts the workers, waits
until each has registered (its engine is built before it registers), creates an ``evaluate``
job, queues it and times it until done, and stops the workers with SIGTERM. Needs
LEADGATE_TEST_DATABASE_URL=postgres://...; without it, it says so and exits 0.

    python bench/bench_workers.py --smoke                   # 2 workers, 200 leads; CI runs it
    python bench/bench_workers.py --leads 4000 --runs 5     # prints a markdown report
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

import asyncpg  # noqa: E402
from tortoise import Tortoise  # noqa: E402

from api.db import tortoise_config  # noqa: E402
from api.demo import seed_demo  # noqa: E402
from api.enums import JobStatus  # noqa: E402
from api.jobs import create_job  # noqa: E402
from api.lead_filter import LeadFilter  # noqa: E402
from api.migrate import migrate_database  # noqa: E402
from api.models import BulkJob  # noqa: E402
from api.rulebook_versions import bootstrap  # noqa: E402
from api.settings import DEMO_RULES_DIR, Settings  # noqa: E402
from api.workers import enqueue_job, make_app  # noqa: E402

ANCHOR = date(2026, 11, 27)
LOG = tempfile.TemporaryFile()  # noqa: SIM115 (open for the whole run)
"""The workers' stderr, shown if one fails to start."""


async def start_workers(
    url: str, count: int, env: dict[str, str]
) -> list[asyncio.subprocess.Process]:
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "api.cli",
            "worker",
            env={**os.environ, **env, "LEADGATE_DATABASE_URL": url},
            stdout=asyncio.subprocess.DEVNULL,
            stderr=LOG,
        )
        for _ in range(count)
    ]
    conn = Tortoise.get_connection("default")
    for _ in range(60_000):  # registered = engine built and polling the queue
        _, rows = await conn.execute_query("SELECT COUNT(*) AS n FROM procrastinate_workers")
        if int(rows[0]["n"]) >= count:
            return procs
        for proc in procs:
            if proc.returncode is not None:
                LOG.seek(0)
                raise SystemExit(f"a worker exited {proc.returncode}: {LOG.read()[-3000:]!r}")
        await asyncio.sleep(0.05)
    raise SystemExit("workers did not start")


async def stop_workers(procs: list[asyncio.subprocess.Process]) -> None:
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        await proc.wait()


async def timed_job(
    settings: Settings, version: str, url: str, workers: int, env: dict[str, str]
) -> float:
    """Seconds from queueing a job over every lead to its end, with ``workers`` workers."""
    procs = await start_workers(url, workers, env)
    try:
        job = await create_job(
            kind="evaluate",
            version=version,
            lead_filter=LeadFilter(),
            created_by="bench",
            chunk_size=settings.job_chunk_size,
        )
        app = make_app(settings, pool_size=1)
        started = time.perf_counter()
        async with app.open_async():
            await enqueue_job(app, job.id)
        for _ in range(1_000_000):  # polls the job row (the workers are other processes)
            if (await BulkJob.get(id=job.id)).status == JobStatus.DONE:
                return time.perf_counter() - started
            await asyncio.sleep(0.02)
        raise SystemExit("the job did not finish")
    finally:
        await stop_workers(procs)


async def main(
    leads: int, runs: int, chunk: int, counts: tuple[int, ...] = (1, 2), warm_up: bool = True
) -> None:
    admin_url = os.environ.get("LEADGATE_TEST_DATABASE_URL", "")
    if not admin_url.startswith(("postgres://", "postgresql://")):
        print("bench_workers: needs PostgreSQL (LEADGATE_TEST_DATABASE_URL); skipped")
        return
    name = f"leadgate_bench_{uuid.uuid4().hex[:10]}"
    dsn = admin_url.replace("postgres://", "postgresql://", 1)
    admin = await asyncpg.connect(dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{admin_url.rpartition('/')[0]}/{name}"
    env = {
        "LEADGATE_JOB_RUNNER": "workers",
        "LEADGATE_JOB_CHUNK_SIZE": str(chunk),
        "LEADGATE_JOB_POLL_INTERVAL_S": "0.2",
        "LEADGATE_ENGINE_WORKERS": "1",
    }
    settings = Settings(database_url=url, job_chunk_size=chunk, _env_file=None)
    try:
        await migrate_database(url)
        await Tortoise.init(config=tortoise_config(url))
        await seed_demo(seed=7, leads=leads, anchor=ANCHOR)
        row, _ = await bootstrap(rules_dir=DEMO_RULES_DIR)
        if warm_up:  # an unmeasured job records every decision: later jobs do the same work
            await timed_job(settings, row.version, url, max(counts), env)
        times: dict[int, list[float]] = {n: [] for n in counts}
        ratios = []
        for run in range(runs):
            order = counts if run % 2 == 0 else counts[::-1]
            for workers in order:
                times[workers].append(await timed_job(settings, row.version, url, workers, env))
            if len(counts) == 2:
                ratios.append(times[1][-1] / times[2][-1])
        report(leads, chunk, times, ratios)
    finally:
        await Tortoise.close_connections()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def report(leads: int, chunk: int, times: dict[int, list[float]], ratios: list[float]) -> None:
    runs = len(next(iter(times.values())))
    print(f"\n{leads} leads, chunks of {chunk}, {runs} interleaved run(s), PostgreSQL\n")
    print("| workers | job s min / median / max | leads/s (median) |")
    print("| --- | --- | --- |")
    for workers, seconds in times.items():
        lo, mid, hi = min(seconds), statistics.median(seconds), max(seconds)
        print(f"| {workers} | {lo:.2f} / {mid:.2f} / {hi:.2f} | {leads / mid:.0f} |")
    if ratios:
        print(
            f"\nspeed-up 2 vs 1 worker, per run: {', '.join(f'{r:.2f}' for r in ratios)} "
            f"(median {statistics.median(ratios):.2f})"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=4000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--chunk", type=int, default=250, help="leads per chunk")
    parser.add_argument("--smoke", action="store_true", help="seconds-long run for CI")
    args = parser.parse_args()
    if args.smoke:  # two workers sharing one small job: the whole path, one start-up
        asyncio.run(main(200, 1, 50, counts=(2,), warm_up=False))
    else:
        asyncio.run(main(args.leads, args.runs, args.chunk))
