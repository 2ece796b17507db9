"""``leadgate rules publish/activate/versions/export`` and ``leadgate evaluate`` / ``jobs``.

The database-backed half of the rules tools (``rules/cli.py`` stays pure). Bulk jobs run in
this process with a progress bar (or, with LEADGATE_JOB_RUNNER=workers on PostgreSQL, in
``leadgate worker`` processes while the bar follows them); a killed run is continued by
``leadgate jobs resume``.
"""

from __future__ import annotations

import asyncio
import getpass
import json
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console

from api.cli_support import with_db
from api.settings import get_settings

if TYPE_CHECKING:  # the engine, the models and the jobs are imported by the commands using them
    from api.lead_filter import LeadFilter
    from api.models import BulkJob
    from api.rulebook_store import RulebookRejected

T = TypeVar("T")
jobs_app = typer.Typer(help="Bulk re-evaluation jobs.", no_args_is_help=True)
console = Console(highlight=False)
progress_console = Console(stderr=True, highlight=False)
"""Progress goes to stderr (and only to a terminal), so stdout stays parseable."""

Wait = Annotated[
    bool, typer.Option("--wait/--no-wait", help="Run the re-evaluation here, with progress")
]
Stages = Annotated[list[str] | None, typer.Option("--stage", help="Only leads in this stage")]
Sources = Annotated[list[str] | None, typer.Option("--source", help="Only leads from this source")]


def who() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def run_db(work: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(with_db(work))


def report_rejected(exc: RulebookRejected, folder: Path | None) -> None:
    prefix = f"{folder.as_posix().rstrip('/')}/" if folder else ""
    for error in exc.errors:
        typer.echo(f"{prefix}{error}")
    typer.echo(f"{len(exc.errors)} error(s): nothing was published or activated", err=True)


async def run_with_progress(job: BulkJob, *, take_over: bool = False) -> str:
    """Run a job with a rich progress bar until it is done; returns the summary line.

    The bar counts every runner's batches. With LEADGATE_JOB_RUNNER=workers on PostgreSQL
    this process runs nothing: it queues the job for `leadgate worker` and follows it.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from api.engine import RulesEngine
    from api.jobs import follow_job, progress_of
    from api.rulebook_store import load_version
    from api.rulebook_versions import find_version

    settings = get_settings()
    engine = None
    if by_workers():
        await enqueue_for_workers(job.id, force=take_over)  # resume: queue it again
        progress_console.print(f"job {job.id}: queued for `leadgate worker` (Ctrl-C leaves it)")
    else:
        row = await find_version(job.rulebook_version)
        engine = RulesEngine(load_version(row), workers=settings.engine_workers)
    try:
        before = (await progress_of([job.id]))[job.id]
        with Progress(
            TextColumn(f"job {job.id} · rulebook {job.rulebook_version[:12]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=progress_console,
            disable=not progress_console.is_terminal,
        ) as bar:
            task = bar.add_task("leads", total=job.total, completed=before.processed)
            job = await follow_job(
                job.id,
                engine=engine,
                poll_s=settings.job_poll_interval_s,
                on_progress=lambda done: bar.update(task, completed=done),
                take_over=take_over,
                batch_size=settings.job_batch_size,
            )
    finally:
        if engine is not None:
            await engine.close()
    return await summary_line(job)


def by_workers() -> bool:
    """Whether `leadgate worker` processes run bulk jobs (PostgreSQL only; SQLite has no
    queue, so there the CLI runs them whatever the setting says)."""
    from api.workers import is_postgres

    settings = get_settings()
    return settings.job_runner == "workers" and is_postgres(settings.database_url)


async def enqueue_for_workers(job_id: int, *, force: bool = False) -> None:
    """Queue the job now (workers would also find it within a poll interval)."""
    from api.workers import enqueue_job, make_app

    app = make_app(get_settings(), pool_size=1)
    async with app.open_async():
        await enqueue_job(app, job_id, force=force)


async def summary_line(job: BulkJob) -> str:
    from api.jobs import progress_of

    p = (await progress_of([job.id]))[job.id]
    return (
        f"evaluated {p.evaluated} leads with rulebook {job.rulebook_version[:12]}: "
        f"{p.moved} moved, {p.handoffs} handed off, "
        f"{p.skipped} skipped (changed meanwhile), {p.failed} failed "
        f"[job {job.id} {job.status}, {p.processed}/{job.total}]"
    )


def register(rules_app: typer.Typer, root: typer.Typer) -> None:
    """Mount the commands on ``leadgate rules`` and ``leadgate``."""
    rules_app.command("publish")(publish)
    rules_app.command("activate")(activate)
    rules_app.command("versions")(versions)
    rules_app.command("export")(export)
    root.command("evaluate")(evaluate)
    root.add_typer(jobs_app, name="jobs")


def publish(
    directory: Annotated[Path, typer.Argument(help="Rulebook folder")],
    note: Annotated[str, typer.Option("--note", help="Why this change (kept with the version)")],
    activate: Annotated[
        bool, typer.Option("--activate/--no-activate", help="Make it the active version")
    ] = True,
    wait: Wait = True,
) -> None:
    """Validate and store a rulebook, make it active, and re-evaluate every lead with it."""
    from api.rulebook_store import RulebookRejected, read_dir
    from api.rulebook_versions import publish_rulebook

    async def work() -> None:
        try:
            done = await publish_rulebook(
                files=read_dir(directory), note=note, published_by=who(), activate=activate
            )
        except RulebookRejected as exc:
            report_rejected(exc, directory)
            raise typer.Exit(1) from exc
        state = "published" if done.created else "already published"
        typer.echo(f"{state} {done.row.version[:12]} ({done.row.version})")
        await _after_activation(done.job, active=done.row.active, wait=wait)

    run_db(work())


def activate(
    version: Annotated[str, typer.Argument(help="Version hash or a prefix (≥ 6 characters)")],
    note: Annotated[
        str | None, typer.Option("--note", help="Why (kept in the version's activations)")
    ] = None,
    wait: Wait = True,
) -> None:
    """Make a published version active (an older one: a rollback) and re-evaluate leads.

    Handoffs already made stay: stages only move forward under the lifecycle guards.
    """
    from api.rulebook_store import RulebookRejected
    from api.rulebook_versions import activate_rulebook

    async def work() -> None:
        try:
            row, job = await activate_rulebook(version=version, activated_by=who(), note=note)
        except RulebookRejected as exc:
            report_rejected(exc, None)
            raise typer.Exit(1) from exc
        typer.echo(f"active: {row.version[:12]}" + ("" if job else " (it already was)"))
        await _after_activation(job, active=True, wait=wait)

    run_db(work())


async def _after_activation(job: BulkJob | None, *, active: bool, wait: bool) -> None:
    if job is None:
        if active:
            typer.echo("active version unchanged: nothing to re-evaluate")
        return
    typer.echo(f"re-evaluating {job.total} leads: bulk job {job.id}")
    if wait:
        typer.echo(await run_with_progress(job))
    elif by_workers():
        await enqueue_for_workers(job.id)
        typer.echo("not waiting: queued for `leadgate worker` (`leadgate jobs list`)")
    else:
        typer.echo(f"not waiting: `leadgate jobs resume {job.id}` or the servers run it")


def versions(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable")] = False,
) -> None:
    """Published versions, newest first; * marks the active one."""
    from rich.table import Table

    from api.rulebook_versions import list_versions

    async def work() -> None:
        rows = await list_versions()
        if as_json:
            data = [
                {
                    "version": r.version,
                    "active": r.active,
                    "published_by": r.published_by,
                    "published_at": r.published_at.isoformat(),
                    "note": r.notes,
                    "files": sorted(r.files),
                }
                for r in rows
            ]
            typer.echo(json.dumps(data, indent=2))
            return
        table = Table("", "version", "published", "by", "note", box=None)
        for r in rows:
            when = r.published_at.strftime("%Y-%m-%d %H:%M")
            table.add_row("*" if r.active else "", r.version[:12], when, r.published_by, r.notes)
        console.print(table)

    run_db(work())


def export(
    version: Annotated[str, typer.Argument(help="Version hash or a prefix")],
    directory: Annotated[Path, typer.Argument(help="Folder to write the files into")],
) -> None:
    """Write a published version's files into a folder (to diff, edit, or restore in git)."""
    from api.rulebook_versions import find_version, write_files

    async def work() -> None:
        row = await find_version(version)
        write_files(row, directory)
        typer.echo(f"wrote {len(row.files)} files of {row.version[:12]} to {directory}")

    run_db(work())


def evaluate(
    decaying: Annotated[
        bool, typer.Option("--decaying", help="Only leads whose engagement still decays")
    ] = False,
    stage: Stages = None,
    source: Sources = None,
    wait: Wait = True,
) -> None:
    """Re-evaluate leads with the active rulebook, as a resumable bulk job with progress.

    On a database without an active rulebook, LEADGATE_RULES_DIR is published first.
    """
    from api.lead_filter import LeadFilter

    lead_filter = LeadFilter.parse(stages=stage or (), sources=source or (), decaying=decaying)
    typer.echo(run_db(evaluate_all(lead_filter, wait=wait)))


async def evaluate_all(lead_filter: LeadFilter, *, wait: bool = True) -> str:
    from api.jobs import create_job
    from api.rulebook_versions import bootstrap

    settings = get_settings()
    row, _ = await bootstrap(rules_dir=settings.rules_dir)
    job = await create_job(
        kind="evaluate",
        version=row.version,
        lead_filter=lead_filter,
        created_by=who(),
        chunk_size=settings.job_chunk_size,
    )
    if not wait:
        if by_workers():
            await enqueue_for_workers(job.id)
        return f"bulk job {job.id}: {job.total} leads queued"
    return await run_with_progress(job)


@jobs_app.command("list")
def jobs_list() -> None:
    """Recent bulk jobs with their progress."""
    from rich.table import Table

    from api.jobs import list_jobs, progress_of

    async def work() -> None:
        jobs = await list_jobs()
        progress = await progress_of([j.id for j in jobs])
        table = Table(
            "job", "kind", "rulebook", "status", "progress", "moved", "handoffs", box=None
        )
        for j in jobs:
            p = progress[j.id]
            table.add_row(
                str(j.id),
                j.kind,
                j.rulebook_version[:12],
                j.status,
                f"{p.processed}/{j.total}",
                str(p.moved),
                str(p.handoffs),
            )
        console.print(table)

    run_db(work())


@jobs_app.command("resume")
def jobs_resume(job_id: Annotated[int, typer.Argument(help="Job id")]) -> None:
    """Continue a job whose runner died, from its last committed batch.

    Takes over chunks still marked running: use it when their runner is gone (a concurrent
    runner is harmless, though: a batch is committed by one runner only).
    """
    from api.jobs import get_job

    async def work() -> str:
        job = await get_job(job_id)
        return await run_with_progress(job, take_over=True)

    typer.echo(run_db(work()))
