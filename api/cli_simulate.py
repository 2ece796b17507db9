"""``leadgate rules simulate DIR``: what publishing DIR would change, as tables or JSON."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from api.cli_rulebooks import Sources, Stages, console, progress_console, report_rejected, run_db
from api.engine import RulesEngine
from api.lead_filter import LeadFilter
from api.models import Lead, SalesRep
from api.rulebook_store import RulebookRejected, load_version, read_dir, validate_files
from api.rulebook_versions import bootstrap
from api.settings import get_settings
from api.simulation import Impact, simulate


def impact_json(impact: Impact, reps: dict[int, str]) -> dict[str, Any]:
    """The report as plain data (what ``--json`` prints)."""
    return {
        "current_version": impact.current_version,
        "candidate_version": impact.candidate_version,
        "leads": impact.leads,
        "failed": impact.failed,
        "moved": impact.moved,
        "moves": [{"from": f, "to": t, "leads": n} for (f, t), n in sorted(impact.moves.items())],
        "refused": impact.refused,
        "handoffs": impact.handoffs,
        "owners": [
            {
                "rep_id": rep,
                "rep": reps.get(rep, str(rep)),
                "gained": impact.owners_gained[rep],
                "lost": impact.owners_lost[rep],
            }
            for rep in sorted(set(impact.owners_gained) | set(impact.owners_lost))
        ],
        "scores_changed": impact.scores_changed,
        "histograms": {
            name: {"edges": h.edges, "before": h.before, "after": h.after}
            for name, h in impact.histograms.items()
        },
        "fire_changes": [{"rule": r, "before": b, "after": a} for r, b, a in impact.fire_changes()],
        "stays": {"leads": impact.stay_leads, "handoffs": impact.stay_handoffs},
        "samples": {
            kind: [
                {
                    "lead_id": s.lead_id,
                    "email": s.email,
                    "stage_before": s.stage_before,
                    "stage_after": s.stage_after,
                    "owner_before": s.owner_before,
                    "owner_after": s.owner_after,
                    "fired_before": s.before.fired_names,
                    "fired_after": s.after.fired_names,
                    "scores_before": {n: v.value for n, v in s.before.scores.items()},
                    "scores_after": {n: v.value for n, v in s.after.scores.items()},
                }
                for s in samples
            ]
            for kind, samples in impact.samples.items()
        },
    }


def simulate_command(
    directory: Annotated[Path, typer.Argument(help="Candidate rulebook folder")],
    stage: Stages = None,
    source: Sources = None,
    decaying: Annotated[bool, typer.Option("--decaying", help="Only decaying leads")] = False,
    samples: Annotated[int, typer.Option(min=0, help="Sample leads per kind of change")] = 3,
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many leads")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable")] = False,
) -> None:
    """Evaluate a candidate against the current leads and say what publishing it would do.

    Nothing is written. Moves are forward only (the lifecycle guards); leads the candidate would
    not have qualified stay where they are, with their handoffs ("stays").
    """
    lead_filter = LeadFilter.parse(stages=stage or (), sources=source or (), decaying=decaying)
    try:
        candidate_book = validate_files(read_dir(directory), root=str(directory))
    except RulebookRejected as exc:
        report_rejected(exc, directory)
        raise typer.Exit(1) from exc

    async def work() -> None:
        settings = get_settings()
        row, _ = await bootstrap(rules_dir=settings.rules_dir)
        current = await asyncio.to_thread(
            RulesEngine, load_version(row), workers=settings.engine_workers
        )
        # The same workers: each decides a lead with both versions in one pair job.
        candidate = await asyncio.to_thread(current.with_rulebook, candidate_book)
        try:
            total = await Lead.filter(lead_filter.query()).count()
            with Progress(
                TextColumn(f"simulating {candidate.version[:12]}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=progress_console,
                disable=not progress_console.is_terminal,
            ) as bar:
                task = bar.add_task("leads", total=min(total, limit or total))
                impact = await simulate(
                    current=current,
                    candidate=candidate,
                    lead_filter=lead_filter,
                    samples=samples,
                    limit=limit,
                    on_progress=lambda n: bar.advance(task, n),
                )
        finally:
            await current.close()
            await candidate.close()
        reps = dict(await SalesRep.all().values_list("id", "name"))
        data = impact_json(impact, reps)
        if as_json:
            typer.echo(json.dumps(data, indent=2, default=str))
        else:
            _print(data)

    run_db(work())


def _print(data: dict[str, Any]) -> None:
    console.print(
        f"candidate {data['candidate_version'][:12]} vs active {data['current_version'][:12]}: "
        f"{data['leads']} leads, {data['moved']} would move, {data['handoffs']} handoffs "
        f"would be created, {data['scores_changed']} scores change, {data['failed']} failed"
    )
    moves = Table("from \\ to", "leads", title="stage moves", box=None)
    for m in data["moves"]:
        moves.add_row(f"{m['from']} → {m['to']}", str(m["leads"]))
    console.print(moves)
    if data["owners"]:
        owners = Table("rep", "gains", "loses", title="owner changes", box=None)
        for o in data["owners"]:
            owners.add_row(o["rep"], str(o["gained"]), str(o["lost"]))
        console.print(owners)
    for name, h in data["histograms"].items():
        hist = Table("range", "before", "after", title=f"{name} distribution", box=None)
        for i, (b, a) in enumerate(zip(h["before"], h["after"], strict=True)):
            hist.add_row(f"{h['edges'][i]:g} to {h['edges'][i + 1]:g}", str(b), str(a))
        console.print(hist)
    fires = Table("rule", "fires before", "after", title="fire-count changes", box=None)
    for f in data["fire_changes"]:
        fires.add_row(f["rule"], str(f["before"]), str(f["after"]))
    console.print(fires)
    stays = data["stays"]
    console.print(
        f"stays: {stays['leads']} leads at the handoff stage would not be qualified by the "
        f"candidate; they keep their stage and {stays['handoffs']} open handoffs (no move back)"
    )
    for kind, samples in data["samples"].items():
        for s in samples:
            gained = sorted(set(s["fired_after"]) - set(s["fired_before"]))
            lost = sorted(set(s["fired_before"]) - set(s["fired_after"]))
            console.print(
                f"[{kind}] {s['email']}: {s['stage_before']} → {s['stage_after']}; "
                f"fires +{gained} -{lost}; scores {s['scores_before']} → {s['scores_after']}"
            )
