"""The code around the engine decides exactly what it decided before it was made faster.

``wrapper_outcomes.json`` holds a digest of every outcome (``Evaluator.decide`` with
explanations, all fields but ``duration_ms``, by ``repr``: key order, int vs float, tuple vs list
and every digit count) of the demo rulebook and generated rulebooks over seeded leads
(tests/rules/wrapper_leads.py), written by main's code before issue 9's thin engine path. Any
change to an outcome, however small, changes a digest.

    PYTHONPATH=<tree> python tests/rules/test_wrapper.py --write   # recompute the fixture
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from rules import EvaluationInput, Evaluator, load_rulebook, load_rulebook_files
from rules.errors import RulesError
from rules.examples import example_input
from rules.synthetic import synthetic_rulebook

try:
    from tests.rules import wrapper_leads
except ImportError:  # run as a script against another tree (PYTHONPATH=<tree>)
    import wrapper_leads  # type: ignore[no-redef,import-not-found,unused-ignore]

ROOT = Path(__file__).resolve().parents[2]

FIXTURE = Path(__file__).with_name("wrapper_outcomes.json")
DEMO = ROOT / "rules" / "demo"
"""The demo rulebook of this tree (the same files in main)."""


def _windows_rulebook(rules: int, windows: int) -> dict[str, bytes]:
    """Many distinct windows over one activity type: packed into several engine rulesets."""
    lines = [
        "scores:\n  fit: {cap: 1000}\n  engagement: {cap: 1000, half_life_days: 14}\n",
        "stages:\n  order: [new, engaged, mql, sal]\n  side: [recycled]\n  initial: new\n",
        "  manual: [engaged, mql, sal, recycled]\n  handoff: mql\nsignals:\n",
    ]
    for i in range(rules):
        items = ", ".join(
            f"{{activity: {{type: page_view, at_least: {w + 1}, within_days: {2 + i + 9 * w}}}}}"
            for w in range(windows)
        )
        lines.append(f"  - name: views_{i}\n    score: engagement\n    points: {1 + i % 3}\n")
        lines.append(f"    when: {{any: [{items}]}}\n")
        lines.append(f"  - name: each_view_{i}\n    score: engagement\n    points: 1\n")
        lines.append(f"    per_activity: true\n    max_count: {1 + i}\n")
        lines.append(f"    when: {{activity: {{type: page_view, within_days: {3 + 5 * i}}}}}\n")
    lines.append("  - name: clicks\n    score: fit\n    points: 4\n")
    lines.append("    when: {activity: {type: email_click, at_least: 2, within_days: 20}}\n")
    lines.append("qualification:\n  - name: hot\n    to: mql\n")
    lines.append("    when: {field: scores.engagement, gte: 12}\n")
    lines.append("  - name: warm\n    to: engaged\n    when: {field: scores.engagement, gt: 3}\n")
    return {"rules.yaml": "".join(lines).encode()}


MIXED = b"""
scores:
  fit: {cap: 100, floor: -50, adjustment_bound: 10}
  engagement: {cap: 60, half_life_days: 7, adjustment_bound: 10}
  heat: {cap: 100, floor: -20, half_life_days: 3}
stages:
  order: [new, engaged, mql, sal, sql, opportunity, customer]
  side: [recycled, disqualified]
  initial: new
  manual: [sal, sql, opportunity, customer, recycled]
  handoff: mql
signals:
  - {name: young, score: fit, points: 10, when: {field: lead.age_days, lt: 30}}
  - {name: old, score: fit, points: -5, when: {field: lead.age_days, gte: 90.5}}
  - {name: big, score: fit, points: 12.5, when: {field: account.employee_count, gt: 250}}
  - {name: base_heat, score: heat, points: 5, when: {field: lead.country, in: [US, DE]}}
  - name: views
    score: heat
    points: 4
    per_activity: true
    max_count: 8
    when: {activity: {type: page_view, within_days: 21}}
  - name: opens
    score: heat
    points: -6
    when: {activity: {type: email_open, at_least: 2, within_days: 10}}
  - name: clicks
    score: engagement
    points: 9
    when: {activity: {type: email_click, within_days: 15}}
  - name: views_then_click
    score: engagement
    points: 12
    when: {sequence: {first: page_view, then: email_click, within_days: 4, in_last_days: 40}}
  - name: downloads
    score: engagement
    points: 3.3333
    per_activity: true
    max_count: 4
    when: {activity: {type: content_download, within_days: 33.5}}
qualification:
  - name: hot
    to: mql
    from: [new, engaged, recycled]
    when: {all: [{field: scores.heat, gte: 20}, {field: scores.engagement, gt: 8}]}
  - name: warm
    to: engaged
    from: [new]
    when: {any: [{field: scores.heat, gt: 6.5}, {field: lead.age_days, lte: 2.25}]}
disqualification:
  - {name: cold, reason: too_small, when: {field: scores.heat, lt: -3}}
  - name: stale
    reason: no_budget
    when: {all: [{field: lead.age_days, gt: 150}, {field: scores.engagement, lte: 1}]}
reasons:
  disqualify:
    - {code: too_small, label: Too small}
    - {code: no_budget, label: No budget}
"""
"""Mixed shapes: lead age limits, fixed and decaying contributions to one decaying score,
negative decaying points, a sequence, fractional windows and points."""


def digest(evaluator: Evaluator, inp: EvaluationInput) -> str:
    try:
        result: Any = evaluator.decide(inp, explain=True)
    except RulesError as exc:
        text = repr((type(exc).__name__, str(exc)))
    else:
        result = {k: v for k, v in result.items() if k != "duration_ms"}
        text = repr(result)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _chain(evaluator: Evaluator, inputs: list[EvaluationInput]) -> Iterator[str]:
    """Follow each lead's next change a few times, and look 1 µs before it too: the moments
    where windows and decaying scores flip (the horizon's exact edges)."""
    for inp in inputs:
        for _ in range(3):
            yield digest(evaluator, inp)
            try:
                at = evaluator.decide(inp, explain=False)["next_change_at"]
            except RulesError:
                break
            if at is None:
                break
            yield digest(evaluator, inp.model_copy(update={"now": at - timedelta(microseconds=1)}))
            inp = inp.model_copy(update={"now": at})


def outcomes() -> dict[str, list[str]]:
    """Every digest, grouped by rulebook and lead set."""
    demo = load_rulebook(DEMO)
    out: dict[str, list[str]] = {}
    with Evaluator(demo) as ev:
        demo_leads = wrapper_leads.leads(3000, 1, wrapper_leads.DEMO_TYPES)
        out["demo"] = [digest(ev, inp) for inp in demo_leads]
        out["demo_examples"] = [digest(ev, example_input(demo, ex)) for ex in demo.examples]
        chained = wrapper_leads.leads(250, 2, wrapper_leads.DEMO_TYPES)
        out["demo_next_change"] = list(_chain(ev, chained))
    with Evaluator(demo, reuse_sessions=False) as fresh:
        out["demo_fresh_sessions"] = [digest(fresh, inp) for inp in demo_leads[:300]]
    books = {
        "synthetic_50": (load_rulebook_files(synthetic_rulebook(50)), 3, 400, 60),
        "synthetic_300": (load_rulebook_files(synthetic_rulebook(300)), 4, 400, 60),
        "windows_12x8": (load_rulebook_files(_windows_rulebook(12, 8)), 5, 400, 60),
        "mixed": (load_rulebook_files({"mixed.yaml": MIXED}), 6, 600, 200),
    }
    for name, (book, seed, count, chained_count) in books.items():
        with Evaluator(book) as ev:
            inputs = wrapper_leads.leads(count, seed, wrapper_leads.SYNTHETIC_TYPES)
            out[name] = [digest(ev, inp) for inp in inputs]
            out[f"{name}_examples"] = [digest(ev, example_input(book, ex)) for ex in book.examples]
            out[f"{name}_next_change"] = list(_chain(ev, inputs[:chained_count]))
    return out


@pytest.fixture(scope="module")
def computed() -> dict[str, list[str]]:
    return outcomes()


def test_every_stored_outcome_is_decided_again_exactly(computed: dict[str, list[str]]) -> None:
    stored = json.loads(FIXTURE.read_text())
    assert sorted(computed) == sorted(stored)
    for group, digests in stored.items():
        assert len(computed[group]) == len(digests), group
        pairs = zip(digests, computed[group], strict=True)
        differing = [i for i, (a, b) in enumerate(pairs) if a != b]
        assert not differing, f"{group}: {len(differing)} outcomes differ, first at {differing[:5]}"


def test_the_fixture_covers_thousands_of_outcomes_and_several_engine_rulesets() -> None:
    stored = json.loads(FIXTURE.read_text())
    assert sum(map(len, stored.values())) >= 6000
    with Evaluator(load_rulebook_files(_windows_rulebook(12, 8))) as ev:
        assert len(ev.rulesets) > 1


def test_a_fresh_session_per_lead_decides_as_the_reused_session(
    computed: dict[str, list[str]],
) -> None:
    assert computed["demo_fresh_sessions"] == computed["demo"][:300]


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        raise SystemExit("usage: PYTHONPATH=<tree> python tests/rules/test_wrapper.py --write")
    import rules

    print(f"deciding with {rules.__file__}")
    data = outcomes()
    FIXTURE.write_text(json.dumps(data, indent=0) + "\n")
    print(f"{sum(map(len, data.values()))} outcomes in {len(data)} groups → {FIXTURE}")
