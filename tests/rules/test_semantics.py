"""(#12) The three semantic points of docs/rules.md, tested at their exact boundaries.

1. A count signal (``at_least: N``) decays from the newest matching activity.
2. Activity ages are exact to the microsecond: window edges are inclusive and exact, and an
   activity dated after ``now`` never counts; a sequence needs ``then`` strictly after ``first``.
3. Numbers are compared exactly (no rounding) for every value the format accepts.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from rules import EvaluationInput, Evaluator, load_rulebook_files
from tests.rules.conftest import NOW

BOOK = """
scores:
  fit: {cap: 100}
  engagement: {cap: 100, half_life_days: 7}
stages: {order: [new, mql], initial: new, manual: [mql]}
signals:
  - name: three_opens
    score: engagement
    points: 10
    when: {activity: {type: email_open, at_least: 3, within_days: 14}}
  - name: recent_meeting
    score: fit
    points: 1
    when: {activity: {type: meeting_booked, within_days: 14}}
  - name: pricing_then_demo
    score: fit
    points: 2
    when:
      sequence: {first: pricing_page_view, then: demo_request, within_days: 2, in_last_days: 7}
  - name: big_revenue
    score: fit
    points: 4
    when: {field: account.annual_revenue, gte: 10000000}
  - name: any_revenue
    score: fit
    points: 8
    when: {field: account.annual_revenue, gt: 0}
"""


@pytest.fixture(scope="module")
def ev() -> Iterator[Evaluator]:
    with Evaluator(load_rulebook_files({"r.yaml": BOOK})) as evaluator:
        yield evaluator


def _input(activities: list[tuple[str, timedelta]] = (), **account: float) -> EvaluationInput:  # type: ignore[assignment]
    return EvaluationInput.model_validate(
        {
            "lead": {"email": "pat@example.org"},
            "account": account,
            "activities": [{"type": t, "occurred_at": NOW - ago} for t, ago in activities],
            "now": NOW,
        }
    )


def _fired(ev: Evaluator, inp: EvaluationInput) -> set[str]:
    result = ev.evaluate(inp)
    fired = set(result.fired_names)
    for explained in result.not_fired:  # the explainer must agree with the engine
        assert explained.failed, explained
    return fired


def test_count_signal_decays_from_its_newest_activity(ev: Evaluator) -> None:
    days = [timedelta(days=d) for d in (1, 2, 13)]
    result = ev.evaluate(_input([("email_open", d) for d in days]), explain=False)
    (part,) = [c for c in result.contributions if c.signal == "three_opens"]
    assert part.value == round(10 * 0.5 ** (1 / 7), 4)  # 9.057, not 10 * 0.5**(13/7)
    assert part.activity_age_days == 1


DAY14 = timedelta(days=14)
US = timedelta(microseconds=1)


@pytest.mark.parametrize(
    ("ago", "counts"),
    [
        (timedelta(0), True),
        (DAY14, True),
        (DAY14 - US, True),
        (DAY14 + US, False),
        (DAY14 + timedelta(seconds=0.9), False),
        (-US, False),
        (-timedelta(seconds=0.5), False),
    ],
)
def test_window_edges_are_exact_and_the_future_never_counts(
    ev: Evaluator, ago: timedelta, counts: bool
) -> None:
    fired = _fired(ev, _input([("meeting_booked", ago)]))
    assert ("recent_meeting" in fired) is counts


@pytest.mark.parametrize(
    ("pricing_ago", "demo_ago", "holds"),
    [
        (timedelta(seconds=10.6), timedelta(seconds=10.1), True),  # same second, 0.5 s apart
        (timedelta(seconds=10), timedelta(seconds=10) - US, True),
        (timedelta(seconds=10), timedelta(seconds=10), False),  # same instant: not after
        (timedelta(days=3), timedelta(days=1), True),  # exactly 2 days later
        (timedelta(days=3) + US, timedelta(days=1), False),
        (timedelta(days=1), -timedelta(seconds=1), False),  # a future demo never counts
    ],
)
def test_sequence_edges_are_exact(
    ev: Evaluator, pricing_ago: timedelta, demo_ago: timedelta, holds: bool
) -> None:
    inp = _input([("pricing_page_view", pricing_ago), ("demo_request", demo_ago)])
    assert ("pricing_then_demo" in _fired(ev, inp)) is holds


@pytest.mark.parametrize(
    ("revenue", "big", "some"),
    [
        (9_999_999.9999999, False, True),
        (9_999_999.999999, False, True),
        (10_000_000, True, True),
        (10_000_000.000001, True, True),
        (0.0001, False, True),
        (0, False, False),
        (999_999_999_999_999.0, True, True),
        (1e300, True, True),  # clamped to 10^15: still above every literal the format accepts
    ],
)
def test_numbers_are_compared_exactly(ev: Evaluator, revenue: float, big: bool, some: bool) -> None:
    fired = _fired(ev, _input(annual_revenue=revenue))
    assert ("big_revenue" in fired) is big
    assert ("any_revenue" in fired) is some


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -1.0])
def test_numbers_outside_the_format_are_refused_at_input(bad: float) -> None:
    with pytest.raises(ValueError, match="annual_revenue"):
        _input(annual_revenue=bad)
