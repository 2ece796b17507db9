"""When an outcome can next change by itself: windows, decaying scores, and never too late."""

from __future__ import annotations

import math
from datetime import timedelta

from hypothesis import HealthCheck, given, settings

from rules import EvaluationInput, Evaluator, load_rulebook_files
from tests.rules.conftest import NOW, lead_input
from tests.rules.test_explainer import _demo_evaluator, inputs

BOOK = b"""
scores:
  fit: {cap: 100}
  engagement: {cap: 100, half_life_days: 10}
stages:
  order: [new, engaged, mql, sal]
  side: [recycled]
  initial: new
  manual: [engaged, mql, sal, recycled]
signals:
  - name: viewed
    score: engagement
    points: 40
    when: {activity: {type: page_view, within_days: 7}}
qualification:
  - name: hot
    to: mql
    when: {field: scores.engagement, gte: 30}
"""


def _evaluator() -> Evaluator:
    return Evaluator(load_rulebook_files({"book.yaml": BOOK}))


def test_a_decaying_score_crossing_a_threshold_is_the_next_change() -> None:
    with _evaluator() as evaluator:
        inp = lead_input(activities=[("page_view", 1)])
        result = evaluator.evaluate(inp)
        assert result.stage.to_stage == "mql"
        # 40 · 2^(-age/10) falls below 30 at age 10·log2(4/3) days
        crossing = NOW - timedelta(days=1) + timedelta(days=10 * math.log2(40 / 30))
        assert result.next_change_at is not None
        assert abs(result.next_change_at - crossing) < timedelta(minutes=1)
        before = evaluator.evaluate(inp.model_copy(update={"now": crossing - timedelta(minutes=5)}))
        assert before.stage.to_stage == "mql"
        # Following the stated times (as the scheduler does) reaches the change in a few steps:
        # a step may land where `gt` would change but `gte` still holds.
        at, steps = result.next_change_at, 0
        while evaluator.evaluate(inp.model_copy(update={"now": at})).stage.to_stage == "mql":
            following = evaluator.evaluate(inp.model_copy(update={"now": at})).next_change_at
            assert following is not None
            assert following > at
            at, steps = following, steps + 1
        assert steps <= 3
        assert abs(at - crossing) < timedelta(minutes=1)


def test_an_activity_leaving_its_window_is_the_next_change() -> None:
    with _evaluator() as evaluator:
        inp = lead_input(activities=[("page_view", 6.5)])  # 40·2^(-0.65) ≈ 25.5: not hot
        result = evaluator.evaluate(inp)
        leaves = NOW - timedelta(days=6.5) + timedelta(days=7, seconds=1)
        assert result.next_change_at is not None
        assert abs(result.next_change_at - leaves) <= timedelta(seconds=2)
        gone = evaluator.evaluate(inp.model_copy(update={"now": result.next_change_at}))
        assert result.fired_names == ["viewed"]
        assert gone.fired_names == []


def test_window_edges_are_exact_to_the_microsecond() -> None:
    """Ages are integer microseconds and windows inclusive: the activity still counts 1 µs
    before the stated time and has left at it (a whole-seconds horizon was 1 s off, or years)."""
    with _evaluator() as evaluator:
        inp = lead_input(activities=[("page_view", 6.5)])
        occurred = inp.activities[0].occurred_at
        result = evaluator.evaluate(inp)
        assert result.next_change_at == occurred + timedelta(days=7, microseconds=1)
        edge = inp.model_copy(update={"now": result.next_change_at - timedelta(microseconds=1)})
        assert evaluator.evaluate(edge).fired_names == ["viewed"]
        future = lead_input(activities=[("page_view", -0.25)])  # dated 6 h after now
        assert evaluator.evaluate(future).next_change_at == future.activities[0].occurred_at


def test_nothing_changes_by_itself_without_time_dependent_facts() -> None:
    with _evaluator() as evaluator:
        assert evaluator.evaluate(lead_input()).next_change_at is None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inp=inputs())
def test_the_outcome_holds_until_the_next_change(inp: EvaluationInput) -> None:
    """Never too late: just before the stated time the demo rulebook decides the same."""
    evaluator = _demo_evaluator()
    first = evaluator.evaluate(inp, explain=False)
    if first.next_change_at is None:
        moments = [inp.now + timedelta(days=400)]
    else:
        span = first.next_change_at - inp.now
        moments = [inp.now + span / 2, first.next_change_at - timedelta(seconds=2)]
    for moment in moments:
        if moment <= inp.now:
            continue
        later = evaluator.evaluate(inp.model_copy(update={"now": moment}), explain=False)
        assert later.fired_names == first.fired_names, moment
        assert later.stage == first.stage


AGE_BOOK = b"""
scores:
  fit: {cap: 100}
stages:
  order: [new, mql]
  initial: new
  manual: [mql]
qualification:
  - name: old
    to: mql
    when: {any: [{field: lead.age_days, gte: 1.5}, {field: lead.age_days, gt: 1e12}]}
"""


def test_the_lead_age_crossing_is_reached_exactly_and_an_unreachable_one_is_none() -> None:
    """`lead.age_days` is compared without rounding: following the stated times reaches
    created_at + 1.5 days exactly; a limit no lead can reach is not a change (no overflow)."""
    with Evaluator(load_rulebook_files({"b.yaml": AGE_BOOK})) as evaluator:
        created = NOW - timedelta(days=1)
        inp = lead_input(lead={"created_at": created})
        at = evaluator.evaluate(inp).next_change_at
        while at is not None and at < created + timedelta(days=1.5):
            assert evaluator.evaluate(inp.model_copy(update={"now": at})).stage.to_stage is None
            at = evaluator.evaluate(inp.model_copy(update={"now": at})).next_change_at
        assert at == created + timedelta(days=1.5)
        reached = evaluator.evaluate(inp.model_copy(update={"now": at}))
        assert reached.stage.to_stage == "mql"
        later = inp.model_copy(update={"now": at + timedelta(days=1)})
        assert evaluator.evaluate(later).next_change_at is None


def test_a_crossing_hidden_by_rounding_is_found_to_the_microsecond() -> None:
    """Found by the property above: a form submitted 5.27 s ago is worth 4.999985 points,
    rounded to 5.0, so `engagement gte 5` holds; the rounded value drops below 5 some 12 s
    later. The closed form took the rounded 5.0 as exact and named a time 5 s too late."""
    inp = EvaluationInput.model_validate(
        {
            "lead": {"email": "ana@acme.io", "stage": "new"},
            "activities": [{"type": "form_submit", "occurred_at": NOW - timedelta(seconds=5.27)}],
            "now": NOW,
        }
    )
    evaluator = _demo_evaluator()
    first = evaluator.evaluate(inp, explain=False)
    assert "engaged_on_activity" in first.fired_names
    at = first.next_change_at
    assert at is not None
    just_before = evaluator.evaluate(inp.model_copy(update={"now": at - timedelta(microseconds=1)}))
    assert just_before.fired_names == first.fired_names
    changed = evaluator.evaluate(inp.model_copy(update={"now": at}), explain=False)
    assert "engaged_on_activity" not in changed.fired_names
