"""Rulebooks of any realistic size: packed across engine rulesets, checked by the real limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from rules import Evaluator, RulebookInvalid, load_rulebook_files, run_examples
from rules.compiler import fact_field, number
from rules.explainer import holds
from rules.facts import build_facts
from rules.packing import patterns_by_kind
from rules.synthetic import synthetic_rulebook
from tests.rules.conftest import lead_input

HEADER = """
scores:
  fit: {cap: 1000}
  engagement: {cap: 1000, half_life_days: 14}
stages:
  order: [new, engaged, mql, sal]
  side: [recycled]
  initial: new
  manual: [engaged, mql, sal, recycled]
signals:
"""


def _windows_rulebook(rules: int, windows: int) -> dict[str, bytes]:
    """Today's error-303 shape: each rule counts page views over several windows, so one
    page-view fact matches rules x windows distinct patterns while rules per phase stay few."""
    lines = [HEADER]
    for i in range(rules):
        items = ", ".join(
            f"{{activity: {{type: page_view, at_least: {w + 1}, within_days: {2 + i + 9 * w}}}}}"
            for w in range(windows)
        )
        lines.append(f"  - name: views_{i}\n    score: engagement\n    points: 1\n")
        lines.append(f"    when: {{all: [{items}]}}\n")
    return {"rules.yaml": "".join(lines).encode()}


def _agrees(evaluator: Evaluator, activities: list[tuple[str, float]]) -> set[str]:
    inp = lead_input(activities=activities)
    result = evaluator.evaluate(inp)
    facts = build_facts(evaluator.book, inp)
    subject = dict(facts.subject)
    for name, score in result.scores.items():
        subject[fact_field(f"scores.{name}")] = number(score.value)
    expected = {
        name
        for name, cond in evaluator.compiled.conditions.items()
        if holds(cond, subject, facts.activities)
    }
    assert set(result.fired_names) == expected
    return expected


def test_the_former_error_303_shape_passes_check_and_evaluates_correctly() -> None:
    book = load_rulebook_files(_windows_rulebook(rules=20, windows=4))  # `rules check` passes
    with Evaluator(book) as evaluator:
        assert len(evaluator.rulesets) >= 2  # 80 page-view patterns: more than one ruleset
        for part in evaluator.compiled.parts:
            per_kind: dict[str, set[str]] = {}
            for rule in part.values():
                for kind, keys in patterns_by_kind(rule).items():
                    per_kind.setdefault(kind, set()).update(keys)
            assert max(len(keys) for keys in per_kind.values()) <= 60
        assert _agrees(evaluator, [("page_view", d) for d in (1, 2, 3, 4)]) == {
            f"views_{i}" for i in range(20)
        }
        assert not _agrees(evaluator, [("page_view", 200)])
        fired = _agrees(evaluator, [("page_view", d) for d in (1, 5, 10, 40)])
        assert fired
        assert len(fired) < 20


def test_64_signals_over_distinct_page_view_windows_evaluate_correctly() -> None:
    """#12 listed this file as broken (64 distinct page-view windows: error 303 in one engine
    ruleset). With #9's packing no single rule crosses the per-fact limit, so `rules check`
    accepts it and the packed rulesets fire exactly the signals whose window holds a view."""
    path = Path(__file__).parent / "large" / "page_view_64_windows.yaml"
    book = load_rulebook_files({path.name: path.read_bytes()})  # `rules check` passes
    with Evaluator(book) as evaluator:
        assert len(evaluator.rulesets) >= 2
        assert _agrees(evaluator, [("page_view", 10.5)]) == {f"pv_{i}" for i in range(10, 64)}
        assert _agrees(evaluator, [("page_view", 64)]) == {"pv_63"}  # inclusive edge
        assert _agrees(evaluator, [("page_view", 0.5), ("page_view", 30.5)]) == {
            f"pv_{i}" for i in range(64)
        }
        result = evaluator.evaluate(lead_input(activities=[("page_view", 10.5)]))
        assert result.scores["fit"].value == 54
        assert not _agrees(evaluator, [("page_view", 64.5)])


def test_same_activity_counted_over_two_windows_fires_like_the_explainer_says() -> None:
    """`all: [1 page_view in 2 days, 1 page_view in 3 days]` never fired before (the engine
    binds a fact to one pattern only); it is the narrower window."""
    files = {"r.yaml": (HEADER + "  - name: v\n    score: engagement\n    points: 1\n"
             "    when: {all: [{activity: {type: page_view, within_days: 2}}, "
             "{activity: {type: page_view, within_days: 3}}]}\n").encode()}  # fmt: skip
    with Evaluator(load_rulebook_files(files)) as evaluator:
        assert _agrees(evaluator, [("page_view", 1)]) == {"v"}
        assert _agrees(evaluator, [("page_view", 2.5)]) == set()


def test_a_rule_over_the_per_fact_limit_on_its_own_is_refused_by_check() -> None:
    with pytest.raises(RulebookInvalid) as info:
        load_rulebook_files(_windows_rulebook(rules=1, windows=61))
    [error] = info.value.errors
    assert "error 303" in error.message
    assert error.rule == "views_0"


@pytest.mark.parametrize("size", [300, 1000])
def test_large_rulebooks_evaluate_and_their_examples_pass(size: int) -> None:
    book = load_rulebook_files(synthetic_rulebook(size))
    assert len(book.signals) + len(book.transitions) == size
    with Evaluator(book) as evaluator:
        assert len(evaluator.rulesets) > 1
        outcomes = run_examples(book, evaluator)
        assert outcomes
        assert all(o.passed for o in outcomes), [o.failures for o in outcomes]
        _agrees(evaluator, [("page_view", 10), ("email_open", 2), ("email_open", 40)])
