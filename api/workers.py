"""Bulk jobs on PostgreSQL: one procrastinate task per chunk, run by ``leadgate worker``.

The chunk rows stay the source of truth (cursor, counters, each lead once per version: see
``api.jobs``); procrastinate decides which worker runs which chunk and notices dead workers.
Each worker sends a heartbeat; a periodic task puts the running tasks of a worker whose
heartbeat went stale back in the queue (``retry_job``), and the next attempt takes the chunk
over from its last committed batch. A worker asked to stop (SIGTERM) finishes its batch, hands
the chunk back and has procrastinate retry the task elsewhere.

On SQLite there is no queue: jobs run in-process (``api.jobs.run_job``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from datetime import UTC, datetime
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

import procrastinate
from procrastinate.exceptions import ConnectorException
from procrastinate.job_context import JobContext
from procrastinate.schema import SchemaManager
from procrastinate.types import JSONDict
from tortoise.expressions import Q

from api.engine import RulesEngine
from api.enums import JobStatus
from api.job_chunks import claim_chunk_by_id, release_chunk, run_chunk, runner_name
from api.lead_filter import LeadFilter
from api.models import BulkJob, BulkJobChunk
from api.settings import Settings

log = logging.getLogger("leadgate.worker")

QUEUE = "leadgate-bulk"
RUN_CHUNK = "leadgate.run_chunk"
RETRY_STALLED = "leadgate.retry_stalled"
ENQUEUE_JOBS = "leadgate.enqueue_jobs"
SCHEMA_LOCK = 7_310_010
"""pg_advisory_xact_lock key: two ``db migrate`` at once apply procrastinate's schema once."""


def is_postgres(database_url: str) -> bool:
    return database_url.startswith(("postgres://", "postgresql://", "asyncpg://"))


def conninfo(database_url: str) -> str:
    """libpq's URL for the tortoise one (tortoise's own query options are dropped)."""
    parts = urlsplit(database_url)
    return urlunsplit(("postgresql", parts.netloc, parts.path, "", ""))


def make_app(settings: Settings, *, pool_size: int = 2) -> procrastinate.App:
    """A procrastinate app on LEADGATE_DATABASE_URL; tasks are registered by ``Worker``."""
    connector = procrastinate.PsycopgConnector(
        conninfo=conninfo(settings.database_url), min_size=1, max_size=pool_size
    )
    return procrastinate.App(connector=connector)


async def apply_schema(database_url: str) -> bool:
    """Create procrastinate's tables and functions unless they exist (``leadgate db migrate``).

    Idempotent: True when it applied them. Upgrading procrastinate across a schema change
    means applying its migration files (see docs/operations.md); the version is pinned.
    """
    import psycopg

    conn = await psycopg.AsyncConnection.connect(conninfo(database_url))
    async with conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
        cur = await conn.execute("SELECT to_regclass('procrastinate_jobs') IS NOT NULL")
        row = await cur.fetchone()
        if row is not None and row[0]:
            return False
        schema = SchemaManager.get_schema()
        await conn.execute(schema)  # no parameters: the script runs as it is
    return True


async def enqueue_job(app: procrastinate.App, job_id: int, *, force: bool = False) -> int:
    """Defer one ``run_chunk`` task per unfinished chunk of a job; the number deferred.

    ``enqueued_at`` is set by compare-and-set first, so a job is enqueued once however many
    workers or CLIs try (``force``: again, after its creator died before deferring).
    """
    now = datetime.now(UTC)
    query = BulkJob.filter(id=job_id, status__in=[JobStatus.PENDING, JobStatus.RUNNING])
    if not force:
        query = query.filter(enqueued_at=None)
    if not await query.update(enqueued_at=now):
        return 0
    ids = cast(
        list[int],
        await BulkJobChunk.filter(job_id=job_id)
        .exclude(status=JobStatus.DONE)
        .order_by("id")
        .values_list("id", flat=True),
    )
    if not ids:
        return 0
    try:
        deferrer = app.configure_task(RUN_CHUNK, queue=QUEUE)
        tasks: list[JSONDict] = [{"chunk_id": i} for i in ids]
        await deferrer.batch_defer_async(*tasks)
    except Exception:
        await BulkJob.filter(id=job_id, enqueued_at=now).update(enqueued_at=None)
        raise
    return len(ids)


async def enqueue_waiting(app: procrastinate.App) -> int:
    """Jobs created anywhere (a GraphQL publish, a CLI) that no one enqueued yet."""
    jobs = await BulkJob.filter(
        Q(status__in=[JobStatus.PENDING, JobStatus.RUNNING]) & Q(enqueued_at=None)
    ).values_list("id", flat=True)
    return sum([await enqueue_job(app, cast(int, job_id)) for job_id in jobs])


class HandedBack(Exception):
    """The worker is stopping: the chunk went back to pending; procrastinate retries the task."""


class ChunkRetry(procrastinate.BaseRetryStrategy):
    """A handed-back chunk runs again at once, on any worker. A task that failed (the database
    went away, say) runs again up to ``FAILED_RETRIES`` times, 2, 4, 6 … s later; each later
    attempt takes the chunk over from its last committed batch."""

    FAILED_RETRIES = 5

    def get_retry_decision(
        self, *, exception: BaseException, job: procrastinate.jobs.Job
    ) -> procrastinate.RetryDecision | None:
        if isinstance(exception, HandedBack):
            return procrastinate.RetryDecision(retry_in={"seconds": 0})
        if isinstance(exception, Exception) and job.attempts < self.FAILED_RETRIES:
            return procrastinate.RetryDecision(retry_in={"seconds": 2 * (job.attempts + 1)})
        return None


def _cron_every(seconds: float) -> str:
    """A six-field cron (the sixth is seconds) for "every ``seconds``", 1 s at least."""
    step = max(1, min(59, round(seconds)))
    return f"* * * * * */{step}"


class Worker:
    """The tasks of one ``leadgate worker`` process and the engines they evaluate with."""

    def __init__(self, settings: Settings, app: procrastinate.App) -> None:
        self.settings = settings
        self.app = app
        self.name = runner_name()
        self.stopping = asyncio.Event()
        self._engines: dict[str, RulesEngine] = {}
        self._users: dict[str, int] = {}
        self._newest = ""
        self._engine_lock = asyncio.Lock()
        self._register()

    def _register(self) -> None:
        app, settings = self.app, self.settings

        @app.task(name=RUN_CHUNK, queue=QUEUE, pass_context=True, retry=ChunkRetry())
        async def run_chunk_task(context: JobContext, chunk_id: int) -> str:
            # A later attempt means procrastinate gave up on the earlier one's worker.
            return await self.run_one(chunk_id, take_over=context.job.attempts > 0)

        maintenance: dict[str, Any] = {"queue": QUEUE, "priority": 10}

        @app.periodic(cron=_cron_every(settings.worker_stalled_after_s / 2))
        @app.task(name=RETRY_STALLED, queueing_lock=RETRY_STALLED, **maintenance)
        async def retry_stalled(timestamp: int) -> int:
            return await self.retry_stalled()

        @app.periodic(cron=_cron_every(settings.job_poll_interval_s))
        @app.task(name=ENQUEUE_JOBS, queueing_lock=ENQUEUE_JOBS, **maintenance)
        async def enqueue_jobs(timestamp: int) -> int:
            return await enqueue_waiting(app)

        del run_chunk_task, retry_stalled, enqueue_jobs  # registered on the app

    async def retry_stalled(self) -> int:
        """Requeue the tasks of workers whose heartbeat is older than the stalled timeout."""
        stalled = await self.app.job_manager.get_stalled_jobs(
            queue=QUEUE, seconds_since_heartbeat=self.settings.worker_stalled_after_s
        )
        retried = 0
        for job in stalled:
            try:
                await self.app.job_manager.retry_job(job)
                retried += 1
            except ConnectorException:  # another worker retried it first
                continue
        if retried:
            log.warning("requeued %d task(s) of stalled workers", retried)
        return retried

    async def run_one(self, chunk_id: int, *, take_over: bool) -> str:
        chunk = await claim_chunk_by_id(chunk_id, runner=self.name, take_over=take_over)
        if chunk is None:
            return f"chunk {chunk_id}: done or held by a live runner"
        job = await BulkJob.get(id=chunk.job_id)  # type: ignore[attr-defined]

        def on_batch(_: int) -> None:
            if self.stopping.is_set() and chunk.cursor < chunk.last_lead_id:
                raise HandedBack(chunk_id)  # between batches; the last one finishes the chunk

        try:
            async with self.engine(job.rulebook_version) as engine:
                finished = await run_chunk(
                    chunk,
                    engine=engine,
                    lead_filter=LeadFilter.from_json(job.lead_filter),
                    runner=self.name,
                    batch_size=self.settings.job_batch_size,
                    on_batch=on_batch,
                )
        except HandedBack:
            await release_chunk(chunk_id, runner=self.name)
            raise
        return f"chunk {chunk_id}: {'done' if finished else 'taken over by another runner'}"

    @asynccontextmanager
    async def engine(self, version: str) -> AsyncIterator[RulesEngine]:
        """The engine of a job's version, built on first use; an older version's engine is
        closed once no chunk uses it (after a publish, its jobs were cancelled)."""
        from api.rulebook_store import load_version
        from api.rulebook_versions import find_version

        async with self._engine_lock:
            if version not in self._engines:
                row = await find_version(version)
                self._engines[version] = RulesEngine(
                    load_version(row),
                    workers=self.settings.engine_workers,
                    timeout_s=self.settings.engine_timeout_s,
                )
            self._newest = version
            self._users[version] = self._users.get(version, 0) + 1
        try:
            yield self._engines[version]
        finally:
            async with self._engine_lock:
                self._users[version] -= 1
                idle = [v for v, n in self._users.items() if n == 0 and v != self._newest]
                for old in idle:
                    del self._users[old]
                    await self._engines.pop(old).close()

    async def warm_up(self) -> None:
        """Build the active version's engine before taking tasks (its start costs seconds)."""
        from api.rulebook_versions import active_version

        version = await active_version()
        if version is None:
            return
        try:
            async with self.engine(version):
                pass
        except Exception:  # the first chunk tries again (and its task is retried)
            log.exception("could not build the engine of %s yet", version[:12])

    async def close(self) -> None:
        for engine in self._engines.values():
            await engine.close()
        self._engines.clear()

    async def run(self, *, concurrency: int, stop: Awaitable[object] | None = None) -> None:
        """Run until ``stop`` resolves: then finish the current batches and hand chunks back."""
        worker = asyncio.create_task(
            self.app.run_worker_async(
                queues=[QUEUE],
                name=self.name,
                concurrency=concurrency,
                install_signal_handlers=False,
                update_heartbeat_interval=self.settings.worker_heartbeat_s,
                stalled_worker_timeout=self.settings.worker_stalled_after_s,
                fetch_job_polling_interval=self.settings.job_poll_interval_s,
                delete_jobs="successful",
            )
        )
        waiter = asyncio.ensure_future(stop if stop is not None else asyncio.Event().wait())
        try:
            await asyncio.wait({worker, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            self.stopping.set()
            if not worker.done():
                worker.cancel()  # procrastinate stops fetching and waits for running tasks
            with suppress(asyncio.CancelledError):
                await worker


async def serve(settings: Settings, *, concurrency: int, stop: Awaitable[object]) -> None:
    """``leadgate worker``: the procrastinate app, its tasks and the engines, until ``stop``."""
    async with AsyncExitStack() as stack:
        app = make_app(settings, pool_size=concurrency + 3)  # tasks, heartbeat, listener
        await app.open_async()
        stack.push_async_callback(app.close_async)
        worker = Worker(settings, app)
        stack.push_async_callback(worker.close)
        await worker.warm_up()
        log.info("worker %s started: concurrency %d", worker.name, concurrency)
        await worker.run(concurrency=concurrency, stop=stop)
        log.info("worker %s stopped", worker.name)
