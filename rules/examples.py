"""Run the examples embedded in a rulebook: a lead in, the expected outcome out.

Example inputs may write ``days_ago: 3`` instead of ``occurred_at`` (and for ``created_at``,
``last_assigned_at``, ``expires_at``, a rep's out-of-office ``starts_at``/``ends_at``) relative to
the example's ``now``;
``example_defaults`` gives ``now`` and ``reps`` shared by all examples.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from rules.errors import RulesError
from rules.evaluator import Evaluator
from rules.models import EvaluationInput, EvaluationResult
from rules.rulebook import Example, Rulebook

DEFAULT_NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
_RELATIVE = {
    "days_ago": "occurred_at",
    "created_days_ago": "created_at",
    "assigned_days_ago": "last_assigned_at",
    "expires_in_days": "expires_at",
    "starts_days_ago": "starts_at",
    "ends_in_days": "ends_at",
}
_FUTURE = ("expires_in_days", "ends_in_days")


@dataclass
class ExampleOutcome:
    example: Example
    failures: list[str] = field(default_factory=list)
    result: EvaluationResult | None = None

    @property
    def passed(self) -> bool:
        return not self.failures


def _now(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        return _now(datetime.fromisoformat(value.replace("Z", "+00:00")))
    return DEFAULT_NOW


def _resolve(node: Any, now: datetime) -> Any:
    if isinstance(node, list):
        return [_resolve(x, now) for x in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key in _RELATIVE:
            sign = 1 if key in _FUTURE else -1
            out[_RELATIVE[key]] = now + sign * timedelta(days=float(value))
        else:
            out[key] = _resolve(value, now)
    return out


def example_input(book: Rulebook, example: Example) -> EvaluationInput:
    """The :class:`EvaluationInput` an example describes."""
    defaults = book.example_defaults
    now = _now(example.input.get("now", defaults.get("now")))
    raw = _resolve(dict(example.input), now)
    raw["now"] = now
    raw.setdefault("reps", _resolve(defaults.get("reps", []), now))
    return EvaluationInput.model_validate(raw)


def check_example(evaluator: Evaluator, example: Example) -> ExampleOutcome:
    outcome = ExampleOutcome(example)
    try:
        inp = example_input(evaluator.book, example)
        result = evaluator.evaluate(inp)
    except (ValidationError, RulesError) as exc:
        outcome.failures.append(f"cannot evaluate: {exc}")
        return outcome
    outcome.result = result
    expect = example.expect
    fail = outcome.failures.append
    if "stage" in expect:
        got = result.stage.to_stage
        if got != expect["stage"]:
            fail(f"stage: expected {expect['stage']}, got {got} (rule {result.stage.rule})")
    for name, value in expect.get("scores", {}).items():
        got_score = result.scores[name].value
        if abs(got_score - float(value)) > 0.01:
            fail(f"scores.{name}: expected {value}, got {got_score:g}")
    if "owner" in expect and result.routing.rep_id != expect["owner"]:
        fail(
            f"owner: expected {expect['owner']}, got {result.routing.rep_id} ({result.routing.why})"
        )
    if "route" in expect and result.routing.route != expect["route"]:
        fail(f"route: expected {expect['route']}, got {result.routing.route}")
    if "priority" in expect:
        got_priority = result.sla.priority if result.sla else None
        if got_priority != expect["priority"]:
            fail(f"priority: expected {expect['priority']}, got {got_priority}")
    if "clock" in expect:
        got_clock = result.sla.clock if result.sla else None
        if got_clock != expect["clock"]:
            fail(f"clock: expected {expect['clock']}, got {got_clock}")
    if "deadline" in expect:
        got_deadline = result.sla.deadline if result.sla else None
        if got_deadline != _now(expect["deadline"]):
            shown = got_deadline.isoformat() if got_deadline else None
            fail(f"deadline: expected {expect['deadline']}, got {shown}")
    fired = set(result.fired_names)
    for name in expect.get("fired", []):
        if name not in fired:
            why = next((e for e in result.not_fired if e.rule == name), None)
            reasons = "; ".join(f.message for f in why.failed) if why else ""
            fail(f"expected `{name}` to fire: {reasons}")
    for name in expect.get("not_fired", []):
        if name in fired:
            fail(f"expected `{name}` not to fire")
    return outcome


def run_examples(book: Rulebook, evaluator: Evaluator | None = None) -> list[ExampleOutcome]:
    """Evaluate every example of ``book``; a failed example lists what differed."""
    own = evaluator is None
    ev = evaluator or Evaluator(book)
    try:
        return [check_example(ev, example) for example in book.examples]
    finally:
        if own:
            ev.close()
