"""``leadgate rules ...``: check a rulebook, run its examples, explain one lead."""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from rules.errors import RulebookInvalid, RulesError
from rules.evaluator import Evaluator
from rules.examples import run_examples
from rules.loader import load_rulebook
from rules.models import EvaluationInput, EvaluationResult
from rules.rulebook import Rulebook

app = typer.Typer(help="Rulebook tools: check, test, explain.", no_args_is_help=True)


def default_rules_dir() -> Path:
    """``LEADGATE_RULES_DIR`` or the demo rulebook shipped in the package."""
    env = os.environ.get("LEADGATE_RULES_DIR")
    if env:
        return Path(env)
    return Path(str(resources.files("rules").joinpath("demo")))


DirArg = Annotated[
    Path | None, typer.Argument(help="Rulebook folder (default: LEADGATE_RULES_DIR or the demo).")
]


def _load(directory: Path | None) -> Rulebook:
    folder = directory or default_rules_dir()
    try:
        return load_rulebook(folder)
    except RulebookInvalid as exc:
        for error in exc.errors:
            typer.echo(_located(folder, str(error)), err=False)
        typer.echo(f"{len(exc.errors)} error(s) in {folder}", err=True)
        raise typer.Exit(1) from exc
    except RulesError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


def _located(folder: Path, line: str) -> str:
    return f"{folder.as_posix().rstrip('/')}/{line}"


@app.command()
def check(directory: DirArg = None) -> None:
    """Validate a rulebook; print `file:line:col: rule: message (suggestion)` per error."""
    book = _load(directory)
    rules = len(book.rule_names())
    typer.echo(f"ok: {rules} rules, {len(book.examples)} examples, version {book.version[:12]}")


@app.command("test")
def run_tests(directory: DirArg = None) -> None:
    """Run the rulebook's embedded examples (exit 1 on any failure)."""
    book = _load(directory)
    started = time.perf_counter()
    outcomes = run_examples(book)
    failed = [o for o in outcomes if not o.passed]
    for o in outcomes:
        typer.echo(f"{o.example.loc.file}::{o.example.name} {'PASSED' if o.passed else 'FAILED'}")
    for o in failed:
        typer.echo(f"\n___ {o.example.name} ({o.example.loc.file}:{o.example.loc.line}) ___")
        for failure in o.failures:
            typer.echo(f"  {failure}")
    elapsed = time.perf_counter() - started
    summary = f"{len(outcomes) - len(failed)} passed"
    if failed:
        summary = f"{len(failed)} failed, {summary}"
    typer.echo(f"=== {summary} in {elapsed:.2f}s ===")
    if failed:
        raise typer.Exit(1)


@app.command()
def explain(
    lead_file: Annotated[
        Path, typer.Argument(help="JSON file: an EvaluationInput (`now` defaults to now).")
    ],
    rules: Annotated[Path | None, typer.Option("--rules", help="Rulebook folder.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full result as JSON.")] = False,
) -> None:
    """Evaluate one lead and say why: fired rules, scores, stage, owner, SLA, failed conditions."""
    book = _load(rules)
    try:
        text = sys.stdin.read() if str(lead_file) == "-" else lead_file.read_text("utf-8")
        data = json.loads(text)
        if isinstance(data, dict) and "now" not in data:  # evaluate as of now by default
            data["now"] = datetime.now(UTC).isoformat()
        inp = EvaluationInput.model_validate(data)
    except (OSError, ValueError, ValidationError) as exc:
        typer.echo(f"error: cannot read {lead_file}: {exc}", err=True)
        raise typer.Exit(2) from exc
    with Evaluator(book) as evaluator:
        try:
            result = evaluator.evaluate(inp)
        except RulesError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from exc
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
        return
    typer.echo(render(result))


def render(result: EvaluationResult) -> str:
    """Human-readable outcome and reasons."""
    lines = [f"rulebook {result.rulebook_version[:12]}  ({result.duration_ms:.2f} ms)"]
    stage = result.stage
    if stage.to_stage:
        reason = f", reason {stage.reason}" if stage.reason else ""
        lines.append(f"stage: {stage.from_stage} → {stage.to_stage} (rule {stage.rule}{reason})")
    else:
        lines.append(f"stage: stays {stage.from_stage}")
    for score in result.scores.values():
        adj = f" adjustment {score.adjustment:+g}" if score.adjustment else ""
        lines.append(f"score {score.name}: {score.value:g}/{score.cap:g} (raw {score.raw:g}{adj})")
    lines.append(f"owner: {result.routing.rep_id or 'none'} — {result.routing.why}")
    if result.sla:
        lines.append(
            f"sla: {result.sla.priority} ({result.sla.hours:g}h) "
            f"due {result.sla.deadline.isoformat()}"
        )
    lines.append("fired:")
    lines += [f"  ✓ {f.name} [{f.section}] {f.effect}" for f in result.fired]
    lines.append("not fired:")
    for rule in result.not_fired:
        why = "; ".join(f.message for f in rule.failed) or "(no failed condition)"
        lines.append(f"  ✗ {rule.rule} [{rule.section}] {why}")
    return "\n".join(lines)
