"""``leadgate rules shadow start|stop|report``: try a published candidate on live traffic."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from api import shadow as service
from api.cli_rulebooks import console, run_db, who

app = typer.Typer(
    help="Shadow a published candidate beside the live rulebook.", no_args_is_help=True
)


@app.command("start")
def start(version: Annotated[str, typer.Argument(help="Version hash or a prefix")]) -> None:
    """Evaluate the candidate for every live evaluation from now on (nothing is applied)."""

    async def work() -> None:
        run = await service.start_shadow(version=version, started_by=who())
        typer.echo(f"shadowing {run.candidate_version[:12]} (servers pick it up within seconds)")

    run_db(work())


@app.command("stop")
def stop() -> None:
    """Stop the running shadow; its report stays readable."""

    async def work() -> None:
        run = await service.stop_shadow(stopped_by=who())
        typer.echo(
            f"stopped shadow of {run.candidate_version[:12]} after {run.compared} evaluations"
        )

    run_db(work())


@app.command("report")
def report(
    samples: Annotated[int, typer.Option(min=0, help="Latest disagreements to show")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable")] = False,
) -> None:
    """Disagreements of the running (or last) shadow by kind, with the latest ones."""

    async def work() -> None:
        found = await service.shadow_report(samples=samples)
        run = found.run
        data = {
            "candidate_version": run.candidate_version,
            "running": run.stopped_at is None,
            "compared": run.compared,
            "failed": run.failed,
            "counts": found.counts,
            "samples": [
                {
                    "lead_id": d.lead_id,
                    "evaluation_id": d.evaluation_id,
                    "kind": d.kind,
                    "live": d.live,
                    "candidate": d.candidate,
                }
                for d in found.samples
            ],
        }
        if as_json:
            typer.echo(json.dumps(data, indent=2))
            return
        state = "running" if data["running"] else "stopped"
        console.print(
            f"shadow of {run.candidate_version[:12]} ({state}): {run.compared} evaluations "
            f"compared, {run.failed} failed; disagreements: "
            + ", ".join(f"{k} {n}" for k, n in found.counts.items())
        )
        table = Table("lead", "kind", "live", "candidate", box=None)
        for d in found.samples:
            table.add_row(str(d.lead_id), d.kind, json.dumps(d.live), json.dumps(d.candidate))
        console.print(table)

    run_db(work())
