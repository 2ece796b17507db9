"""``leadgate leads import|export`` and ``leadgate evaluations export``: CSV in and out."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

T = TypeVar("T")
leads_app = typer.Typer(help="Leads in bulk: CSV import and export.", no_args_is_help=True)
evaluations_app = typer.Typer(help="Evaluation records in bulk.", no_args_is_help=True)
DATE = ["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]


def _run(work: Coroutine[Any, Any, T]) -> T:
    from api.cli_support import with_db as _with_db  # the CLI's one way to open the database

    return asyncio.run(_with_db(work))


def _mapping(pairs: list[str]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for pair in pairs:
        column, sep, target = pair.rpartition("=")
        if not sep or not column or not target:
            raise typer.BadParameter(f"{pair!r}: use COLUMN=field", param_hint="--map")
        mapping[column] = target.strip()
    return mapping


@leads_app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV with a header")],
    map_: Annotated[
        list[str] | None,
        typer.Option("--map", help='Column to lead field, e.g. "E-Mail=email" (repeat)'),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check every row, write nothing")] = (
        False
    ),
    errors: Annotated[
        Path | None, typer.Option(help="Error report file (default: FILE.errors.csv)")
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, max=5000, help="Rows per transaction")] = 1000,
    evaluate: Annotated[
        bool, typer.Option(help="Evaluate created and changed leads with the rulebook afterwards")
    ] = False,
    progress: Annotated[bool, typer.Option(help="Show a progress bar")] = True,
) -> None:
    """Create or update leads from a CSV file, idempotent by email and external id.

    Columns named like lead fields (email, external_id, first_name, …, company_name,
    company_website, company_employee_count, …) are mapped by themselves; --map names others.
    Bad rows go to the error report with line, field and reason; the rest are imported.
    Exit code 1 when some rows failed.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from api.csv_import import count_rows, import_leads

    total = count_rows(file)
    bar = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        disable=not progress,
        transient=True,
    )
    changed: list[int] = []

    async def work() -> str:
        with bar:
            task = bar.add_task("dry run" if dry_run else "importing", total=total)
            summary = await import_leads(
                path=file,
                overrides=_mapping(map_ or []),
                dry_run=dry_run,
                error_report=errors,
                batch_size=batch_size,
                progress=lambda n: bar.advance(task, n),
                changed_ids=changed,
            )
        verb = "would import" if dry_run else "imported"
        lines = [
            f"{verb} {summary.rows} rows: {summary.created} created, {summary.updated} updated, "
            f"{summary.unchanged} unchanged, {summary.failed} failed"
        ]
        if summary.ignored_columns:
            lines.append(f"ignored columns: {', '.join(summary.ignored_columns)}")
        if summary.error_report is not None:
            lines.append(f"errors: {summary.error_report}")
        if evaluate and changed and not dry_run:
            lines.append(await _evaluate(sorted(set(changed))))
        if summary.failed:
            typer.echo("\n".join(lines))
            raise typer.Exit(1)
        return "\n".join(lines)

    typer.echo(_run(work()))


async def _evaluate(lead_ids: list[int]) -> str:
    from api.bulk import evaluate_leads
    from api.engine import RulesEngine
    from api.enums import EvaluationTrigger
    from api.settings import get_settings

    settings = get_settings()
    engine = RulesEngine.from_dir(settings.rules_dir, workers=settings.engine_workers)
    try:
        summary = await evaluate_leads(
            engine=engine, lead_ids=lead_ids, trigger=EvaluationTrigger.BULK
        )
    finally:
        await engine.close()
    return f"evaluated {summary.evaluated} leads: {summary.moved} moved, {summary.failed} failed"


def _open(out: Path | None) -> Any:
    return out.open("w", newline="", encoding="utf-8") if out else sys.stdout


@leads_app.command("export")
def export_leads_command(
    out: Annotated[Path | None, typer.Option("--out", "-o", help="File (default: stdout)")] = None,
    stage: Annotated[str | None, typer.Option(help="Only this lifecycle stage")] = None,
    source: Annotated[str | None, typer.Option(help="Only this source")] = None,
    segment: Annotated[str | None, typer.Option(help="Only accounts in this segment")] = None,
    owner: Annotated[str | None, typer.Option(help="Only this rep's leads (email)")] = None,
    since: Annotated[datetime | None, typer.Option(formats=DATE, help="Created from")] = None,
    until: Annotated[datetime | None, typer.Option(formats=DATE, help="Created before")] = None,
) -> None:
    """Stream leads as CSV (the import's column names, so an export can be re-imported)."""
    from api.csv_export import LeadFilter, export_leads

    f = LeadFilter(stage, source, segment, owner, _utc(since), _utc(until))
    handle = _open(out)
    try:
        count = _run(export_leads(handle, f))
    finally:
        if out:
            handle.close()
    typer.echo(f"exported {count} leads", err=True)


@evaluations_app.command("export")
def export_evaluations_command(
    out: Annotated[Path | None, typer.Option("--out", "-o", help="File (default: stdout)")] = None,
    since: Annotated[datetime | None, typer.Option(formats=DATE, help="From")] = None,
    until: Annotated[datetime | None, typer.Option(formats=DATE, help="Before")] = None,
    trigger: Annotated[str | None, typer.Option(help="api, activity, bulk, …")] = None,
    rulebook: Annotated[str | None, typer.Option(help="Rulebook version (prefix)")] = None,
    stage_after: Annotated[str | None, typer.Option(help="Only outcomes in this stage")] = None,
) -> None:
    """Stream evaluation records as CSV: who, when, which rulebook, stage move, scores, fired."""
    from api.csv_export import EvaluationFilter, export_evaluations

    f = EvaluationFilter(_utc(since), _utc(until), trigger, rulebook, stage_after)
    handle = _open(out)
    try:
        count = _run(export_evaluations(handle, f))
    finally:
        if out:
            handle.close()
    typer.echo(f"exported {count} evaluations", err=True)


def _utc(value: datetime | None) -> datetime | None:
    from datetime import UTC

    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value
