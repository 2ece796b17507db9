"""``leadgate worker`` and ``leadgate jobs enqueue``: bulk-job chunks run by procrastinate.

PostgreSQL only: on SQLite jobs run in the process that created them (or in the servers).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Annotated

import typer

from api.cli_support import with_db
from api.settings import Settings, get_settings


def _postgres_only(settings: Settings) -> None:
    from api.workers import is_postgres

    if not is_postgres(settings.database_url):
        typer.echo(
            "error: `leadgate worker` needs PostgreSQL (procrastinate); on SQLite bulk jobs "
            "run in-process (`leadgate evaluate`, `leadgate jobs resume`, the servers)",
            err=True,
        )
        raise typer.Exit(1)


def worker(
    concurrency: Annotated[
        int | None,
        typer.Option(min=1, help="Chunks run at once (default LEADGATE_WORKER_CONCURRENCY)"),
    ] = None,
) -> None:
    """Run bulk-job chunks from the queue until SIGTERM or Ctrl-C.

    Start any number, on any machine that reaches the database: they share every job. A
    worker that dies is noticed by its stale heartbeat and its chunk continues elsewhere from
    the last committed batch; on SIGTERM a worker finishes its batch and hands the chunk back.
    """
    from api.logs import configure_logging  # structlog and rich: only `worker` needs them

    settings = get_settings()
    _postgres_only(settings)
    configure_logging(settings)
    if settings.log_level != "debug":  # a line per task and per periodic tick otherwise
        logging.getLogger("procrastinate").setLevel(logging.WARNING)

    async def work() -> None:
        from api.workers import serve

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        n = concurrency or settings.worker_concurrency
        await serve(settings, concurrency=n, stop=stop.wait())

    asyncio.run(with_db(work()))


def enqueue(job_id: Annotated[int, typer.Argument(help="Job id")]) -> None:
    """Queue a job's unfinished chunks for `leadgate worker` (again, if it was queued before).

    Workers queue new jobs by themselves within LEADGATE_JOB_POLL_INTERVAL_S; this is for a job
    whose queued tasks were lost (e.g. the queue tables were emptied).
    """
    settings = get_settings()
    _postgres_only(settings)

    async def work() -> int:
        from api.jobs import get_job
        from api.workers import enqueue_job, make_app

        await get_job(job_id)
        app = make_app(settings, pool_size=1)
        async with app.open_async():
            return await enqueue_job(app, job_id, force=True)

    typer.echo(f"bulk job {job_id}: {asyncio.run(with_db(work()))} chunk(s) queued")


def register(root: typer.Typer, jobs_app: typer.Typer) -> None:
    root.command("worker")(worker)
    jobs_app.command("enqueue")(enqueue)
