"""`leadgate worker` on PostgreSQL: two workers share one job through procrastinate, one is
SIGKILLed mid-chunk, another takes its chunk over; exact counts at the end. And the queue's
schema: applied by `leadgate db migrate` on PostgreSQL only, once."""

from __future__ import annotations

import asyncio
import signal
import socket

import pytest

from tests.api.own_db import assert_each_lead_once, leadgate, query, start
from tests.conftest import ON_POSTGRES

LEADS = 1_200
ENV = {
    "LEADGATE_JOB_RUNNER": "workers",
    "LEADGATE_JOB_CHUNK_SIZE": "200",
    "LEADGATE_JOB_BATCH_SIZE": "20",
    "LEADGATE_JOB_POLL_INTERVAL_S": "0.3",
    "LEADGATE_WORKER_HEARTBEAT_S": "0.5",
    "LEADGATE_WORKER_STALLED_AFTER_S": "3",
    "LEADGATE_ENGINE_WORKERS": "1",
}
WAIT_STEPS = 6_000
"""Polls of 0.05 s before a wait fails the test (a hang guard, not a speed check)."""


def runner(proc: asyncio.subprocess.Process) -> str:
    return f"{socket.gethostname()}:{proc.pid}"


async def until(url: str, sql: str, *procs: asyncio.subprocess.Process) -> list[tuple[object, ...]]:
    """Poll until ``sql`` returns rows; fails if a worker exits meanwhile."""
    for _ in range(WAIT_STEPS):
        rows = await query(url, sql)
        if rows:
            return rows
        for proc in procs:
            if proc.returncode is not None:
                _, err = await proc.communicate()
                raise AssertionError(f"worker exited {proc.returncode}: {err.decode()[-2000:]}")
        await asyncio.sleep(0.05)
    raise AssertionError(f"never true: {sql}")


@pytest.mark.postgres
async def test_two_workers_share_a_job_and_a_killed_workers_chunk_is_taken_over(
    fresh_database_url: str,
) -> None:
    url = fresh_database_url
    await leadgate(url, "demo", "seed", "--leads", str(LEADS), "--no-evaluate")
    queued = await leadgate(url, "evaluate", "--no-wait", env=ENV)
    assert f"bulk job 1: {LEADS} leads queued" in queued
    [(tasks,)] = await query(url, "SELECT COUNT(*) FROM procrastinate_jobs")
    assert tasks == LEADS // 200  # one task per chunk, queued by the CLI

    a = await start(url, "worker", env=ENV)
    b = await start(url, "worker", env=ENV)
    try:
        # Both work on the job; then kill a in the middle of a chunk (batches left on each side).
        await until(url, f"SELECT 1 FROM bulk_job_chunk WHERE claimed_by = '{runner(b)}'", a, b)
        [(chunk_id,)] = await until(
            url,
            "SELECT id FROM bulk_job_chunk WHERE status = 'running' "
            f"AND claimed_by = '{runner(a)}' AND processed BETWEEN 40 AND 140",
            a,
            b,
        )
        a.send_signal(signal.SIGKILL)
        await a.wait()
        [(status, holder, cursor)] = await query(
            url, f"SELECT status, claimed_by, cursor FROM bulk_job_chunk WHERE id = {chunk_id}"
        )
        assert (status, holder) == ("running", runner(a))  # it died mid-chunk

        await until(url, "SELECT 1 FROM bulk_job WHERE status = 'done'", b)
        await assert_taken_over(url, chunk_id, cursor, by=runner(b))
        await assert_each_lead_once(url, leads=LEADS)

        # Waiting in workers mode: the CLI queues its job and follows it while b runs it.
        followed = await leadgate(url, "evaluate", "--stage", "customer", env=ENV)
        [(customers,)] = await query(url, "SELECT total FROM bulk_job WHERE id = 2")
        assert f"[job 2 done, {customers}/{customers}]" in followed
        runners = await query(
            url, "SELECT DISTINCT claimed_by FROM bulk_job_chunk WHERE job_id = 2"
        )
        assert runners == [(runner(b),)]

        b.send_signal(signal.SIGTERM)  # graceful: it stops between batches, exit 0
        _, err = await b.communicate()
        assert b.returncode == 0, err.decode()[-2000:]
    finally:
        for proc in (a, b):
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    # Succeeded tasks are deleted: the queue keeps no task of the finished jobs.
    chunk_tasks = "SELECT id FROM procrastinate_jobs WHERE task_name = 'leadgate.run_chunk'"
    assert await query(url, chunk_tasks) == []


async def assert_taken_over(url: str, chunk_id: object, cursor: object, *, by: str) -> None:
    """The killed worker's chunk was finished by ``by``, from where it had stopped."""
    [(status, holder, done_cursor, attempted)] = await query(
        url,
        f"SELECT status, claimed_by, cursor, attempted FROM bulk_job_chunk WHERE id = {chunk_id}",
    )
    assert (status, holder) == ("done", by)  # procrastinate gave b the dead worker's task
    assert isinstance(cursor, int)
    assert isinstance(done_cursor, int)
    assert done_cursor > cursor
    assert isinstance(attempted, int)
    assert attempted <= 200 + 20  # from its cursor on: at most the lost batch again


async def test_migrate_applies_the_queue_schema_on_postgres_only_and_once(
    fresh_database_url: str,
) -> None:
    url = fresh_database_url  # migrated once already
    await leadgate(url, "db", "migrate")
    if ON_POSTGRES:
        rows = await query(url, "SELECT to_regclass('procrastinate_jobs') IS NOT NULL")
        assert rows == [(True,)]
    else:
        rows = await query(url, "SELECT name FROM sqlite_master WHERE name LIKE 'procrastinate%'")
        assert rows == []


@pytest.mark.skipif(ON_POSTGRES, reason="the SQLite answer")
async def test_worker_on_sqlite_says_jobs_run_in_process(fresh_database_url: str) -> None:
    proc = await start(fresh_database_url, "worker")
    _, err = await proc.communicate()
    assert proc.returncode == 1
    assert "needs PostgreSQL" in err.decode()


def test_a_handed_back_chunk_is_retried_at_once_and_a_failed_one_a_few_times_later() -> None:
    from datetime import UTC, datetime, timedelta

    from procrastinate.jobs import Job

    from api.workers import ChunkRetry, HandedBack

    job = Job(id=1, queue="q", lock=None, queueing_lock=None, task_name="t", attempts=0)
    now = datetime.now(UTC)
    back = ChunkRetry().get_retry_decision(exception=HandedBack(1), job=job.evolve(attempts=50))
    assert back is not None
    assert back.retry_at is not None
    assert back.retry_at <= datetime.now(UTC)
    failed = ChunkRetry().get_retry_decision(exception=OSError("gone"), job=job)
    assert failed is not None
    assert failed.retry_at is not None
    assert failed.retry_at >= now + timedelta(seconds=2)
    last = job.evolve(attempts=ChunkRetry.FAILED_RETRIES)
    assert ChunkRetry().get_retry_decision(exception=OSError("gone"), job=last) is None
