"""``leadgate rules ...``: check a rulebook, run its examples, explain one lead."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from rules.errors import RulebookInvalid, RulesError

if TYPE_CHECKING:  # imported where used: `leadgate --help` or `rules check` need none of them
    from rules.models import EvaluationResult
    from rules.nearmiss import NearMiss
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
    from rules.loader import load_rulebook

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
    folder = directory or default_rules_dir()
    for warning in book.warnings:
        typer.echo(_located(folder, str(warning).replace(": ", ": warning: ", 1)))
    rules = len(book.rule_names())
    warned = f", {len(book.warnings)} warning(s)" if book.warnings else ""
    typer.echo(
        f"ok: {rules} rules, {len(book.examples)} examples{warned}, version {book.version[:12]}"
    )


@app.command("test")
def run_tests(directory: DirArg = None) -> None:
    """Run the rulebook's embedded examples (exit 1 on any failure)."""
    from rules.examples import run_examples

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
    now: Annotated[
        datetime | None,
        typer.Option("--now", help="Evaluation time when the file has no `now` (default: now)."),
    ] = None,
) -> None:
    """Evaluate one lead and say why: the near-miss report (why not qualified, what would close
    the gap, decay), why this owner, why this deadline; then every fired and failed rule."""
    from pydantic import ValidationError

    from rules.evaluator import Evaluator
    from rules.models import EvaluationInput
    from rules.nearmiss import near_miss, what_ifs

    book = _load(rules)
    try:
        text = sys.stdin.read() if str(lead_file) == "-" else lead_file.read_text("utf-8")
        data = json.loads(text)
        if isinstance(data, dict) and "now" not in data:
            stamp = now or datetime.now(UTC)
            data["now"] = (stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)).isoformat()
        inp = EvaluationInput.model_validate(data)
    except (OSError, ValueError, ValidationError) as exc:
        typer.echo(f"error: cannot read {lead_file}: {exc}", err=True)
        raise typer.Exit(2) from exc
    with Evaluator(book) as evaluator:
        try:
            result = evaluator.evaluate(inp)
            outcomes = {
                kind: evaluator.evaluate(what_if, explain=False)
                for kind, what_if in what_ifs(book, inp, result).items()
            }
        except RulesError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from exc
    report = near_miss(book, inp, result, outcomes)
    if as_json:
        payload = {**result.model_dump(mode="json"), "near_miss": dataclasses.asdict(report)}
        typer.echo(json.dumps(payload, indent=2, default=str, ensure_ascii=False))
        return
    typer.echo(render_near_miss(report))
    typer.echo("")
    typer.echo(render(result))


def render_near_miss(report: NearMiss) -> str:
    """The three questions, apart: qualified?, owner, deadline."""
    lines = [report.headline, "", f"Why not {report.handoff_stage}:"]
    if report.status == "disqualified":
        lines[-1] = "Why disqualified:"
        lines.append(f"  {report.disqualified}")
    elif not report.why_not_qualified:
        lines[-1] = f"Why {report.status.replace('_', ' ')}: {report.headline}"
    for gap in report.why_not_qualified:
        lines.append(f"  {gap.rule}" + ("" if gap.applies else " (does not apply)"))
        lines += [f"    - {g.message}" for g in gap.failed]
        lines += [f"    → {closer.message}" for closer in gap.closers]
    if report.decay:
        lines.append("Decay:")
        lines += [f"  {d.message}" for d in report.decay]
    lines.append(f"Why this owner: {report.why_owner}")
    lines.append(f"Why this deadline: {report.why_deadline}")
    return "\n".join(lines)


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
            f"sla: {result.sla.priority} ({result.sla.hours:g}h, {result.sla.clock} clock) "
            f"due {result.sla.deadline.isoformat()}"
        )
    lines.append("fired:")
    lines += [f"  ✓ {f.name} [{f.section}] {f.effect}" for f in result.fired]
    lines.append("not fired:")
    for rule in result.not_fired:
        why = "; ".join(f.message for f in rule.failed) or "(no failed condition)"
        lines.append(f"  ✗ {rule.rule} [{rule.section}] {why}")
    return "\n".join(lines)
