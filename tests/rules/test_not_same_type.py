"""``not`` over an activity type that a positive pattern of the same rule also tests.

durable_rules checks a ``$not`` pattern against the frame built before it and skips the facts
already bound in that frame (one fact per frame). A ``$not`` compiled after the positive pattern
over the same type therefore never saw the activity that pattern bound: ``demo_request within
14 and not demo_request within 7`` fired for a lead whose only demo request was 3 days old.
The compiler now puts every ``$not`` right after the subject pattern.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from rules import Evaluator, load_rulebook_files
from rules.cli import app
from tests.rules.conftest import lead_input
from tests.rules.test_explainer import _engine_and_explainer_agree, _rulebook

DEMO_14 = "{activity: {type: demo_request, within_days: 14}}"
NOT_DEMO_7 = "{not: {activity: {type: demo_request, within_days: 7}}}"
NOT_DEMO_14 = "{not: {activity: {type: demo_request, within_days: 14}}}"

CASES = [
    # (condition, activities as (type, days ago), fires)
    (f"{{all: [{DEMO_14}, {NOT_DEMO_7}]}}", [("demo_request", 3)], False),
    (f"{{all: [{DEMO_14}, {NOT_DEMO_7}]}}", [("demo_request", 10)], True),
    (f"{{all: [{DEMO_14}, {NOT_DEMO_7}]}}", [("demo_request", 3), ("demo_request", 10)], False),
    (f"{{all: [{DEMO_14}, {NOT_DEMO_7}]}}", [("page_view", 1), ("demo_request", 2)], False),
    (f"{{all: [{NOT_DEMO_7}, {DEMO_14}]}}", [("demo_request", 3)], False),
    (f"{{all: [{DEMO_14}, {NOT_DEMO_14}]}}", [("demo_request", 3)], False),
    (f"{{all: [{DEMO_14}, {NOT_DEMO_14}]}}", [("demo_request", 10)], False),
    (f"{{all: [{DEMO_14}, {NOT_DEMO_14}]}}", [("demo_request", 3), ("demo_request", 10)], False),
    # different types were already right
    (
        f"{{all: [{{activity: {{type: page_view, within_days: 14}}}}, {NOT_DEMO_14}]}}",
        [("page_view", 1)],
        True,
    ),
    # `not` inside an `any` inside an `all`: the DNF branch holds both patterns
    (
        f"{{all: [{DEMO_14}, {{any: [{NOT_DEMO_7}, {{field: lead.country, eq: XX}}]}}]}}",
        [("demo_request", 3)],
        False,
    ),
    (
        f"{{all: [{DEMO_14}, {{any: [{NOT_DEMO_7}, {{field: lead.country, eq: XX}}]}}]}}",
        [("demo_request", 10)],
        True,
    ),
    # a `not` over a count of the same type (both test the 2nd newest demo request)
    (
        "{all: [{activity: {type: demo_request, at_least: 2, within_days: 30}},"
        " {not: {activity: {type: demo_request, at_least: 2, within_days: 7}}}]}",
        [("demo_request", 3), ("demo_request", 5)],
        False,
    ),
    (
        "{all: [{activity: {type: demo_request, at_least: 2, within_days: 30}},"
        " {not: {activity: {type: demo_request, at_least: 2, within_days: 7}}}]}",
        [("demo_request", 3), ("demo_request", 20)],
        True,
    ),
    # a sequence binds any activity of its types, the newest among them included
    (
        f"{{all: [{{sequence: {{first: page_view, then: demo_request, within_days: 10}}}},"
        f" {NOT_DEMO_7}]}}",
        [("page_view", 6), ("demo_request", 3)],
        False,
    ),
    (
        f"{{all: [{{sequence: {{first: page_view, then: demo_request, within_days: 10}}}},"
        f" {NOT_DEMO_7}]}}",
        [("page_view", 9), ("demo_request", 8)],
        True,
    ),
    # negation pushed inward: not (any [not demo 14, demo 7]) = demo 14 and not demo 7
    (
        f"{{not: {{any: [{NOT_DEMO_14}, {{activity: {{type: demo_request, within_days: 7}}}}]}}}}",
        [("demo_request", 3)],
        False,
    ),
]


@pytest.mark.parametrize(("cond", "activities", "fires"), CASES)
def test_not_over_a_type_a_positive_pattern_also_tests(
    cond: str, activities: list[tuple[str, float]], fires: bool
) -> None:
    book = load_rulebook_files({"generated.yaml": _rulebook([cond])})
    inp = lead_input(lead={"country": "US"}, activities=activities)
    with Evaluator(book) as evaluator:
        fired = {f["name"] for f in evaluator.decide(inp, explain=False)["fired"]}
        assert ("rule_0" in fired) is fires
        _engine_and_explainer_agree(evaluator, inp)


_STAGE_RULEBOOK = """
scores:
  fit: {cap: 100}
stages:
  order: [new, mql]
  initial: new
signals:
  - name: fit_any
    score: fit
    points: 1
qualification:
  - name: mql_stale_demo
    to: mql
    when:
      all:
        - {activity: {type: demo_request, within_days: 14}}
        - not: {activity: {type: demo_request, within_days: 7}}
examples:
  - name: recent_demo_is_not_stale
    input:
      lead: {email: a@example.org}
      activities: [{type: demo_request, days_ago: 3}]
    expect: {not_fired: [mql_stale_demo]}
  - name: old_demo_is_stale
    input:
      lead: {email: a@example.org}
      activities: [{type: demo_request, days_ago: 10}]
    expect: {stage: mql, fired: [mql_stale_demo]}
  - name: recent_and_old_demo_is_not_stale
    input:
      lead: {email: a@example.org}
      activities: [{type: demo_request, days_ago: 3}, {type: demo_request, days_ago: 10}]
    expect: {not_fired: [mql_stale_demo]}
"""


def test_stage_rule_examples_through_the_cli(tmp_path: Path) -> None:
    """Round 2 (the stage rules) and ``leadgate rules check|test`` agree."""
    (tmp_path / "rules.yaml").write_text(_STAGE_RULEBOOK, "utf-8")
    runner = CliRunner()
    checked = runner.invoke(app, ["check", str(tmp_path)])
    assert checked.exit_code == 0, checked.output
    tested = runner.invoke(app, ["test", str(tmp_path)])
    assert tested.exit_code == 0, tested.output
    assert tested.output.strip().splitlines()[-1].startswith("=== 3 passed in ")
