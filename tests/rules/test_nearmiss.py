"""(#12) The near-miss report agrees with the engine.

Property: applying a suggested new activity to the lead's input makes the named rule fire and
qualifies the lead; the points it adds cover every score gap the report named for that rule; the
headline names the closest rule; decay crossings happen when the report says.
"""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings

from rules import ActivityData, EvaluationInput, Evaluator, Rulebook
from rules.nearmiss import NearMiss, near_miss, near_miss_headline, what_ifs
from rules.nearmiss_words import regex_in_words
from tests.rules.conftest import lead_input
from tests.rules.test_explainer import _demo_evaluator, inputs


def _report(ev: Evaluator, inp: EvaluationInput) -> NearMiss:
    result = ev.evaluate(inp)
    plans = what_ifs(ev.book, inp, result)
    return near_miss(ev.book, inp, result, {k: ev.evaluate(v) for k, v in plans.items()})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inp=inputs())
def test_suggested_activity_makes_the_named_rule_fire(inp: EvaluationInput) -> None:
    ev = _demo_evaluator()
    report = _report(ev, inp)
    if report.status != "not_qualified":
        assert report.why_not_qualified == ()
        return
    assert report.headline.startswith(
        f"Not mql yet: closest is rule {report.why_not_qualified[0].rule}"
    )
    before = ev.evaluate(inp, explain=False)
    for gap in report.why_not_qualified:
        for closer in gap.closers:
            added = ActivityData(type=closer.activity, occurred_at=inp.now)
            after = ev.evaluate(inp.model_copy(update={"activities": [*inp.activities, added]}))
            assert closer.rule in after.fired_names
            assert set(closer.signals) <= set(after.fired_names)
            assert after.stage.to_stage == ev.book.stages.handoff
            for failed in gap.failed:
                if failed.score is not None and failed.short_by is not None:
                    gained = after.score(failed.score) - before.score(failed.score)
                    assert gained >= failed.short_by - 1e-3, (failed, closer)


def test_decay_crossing_is_when_the_report_says(demo_book: Rulebook) -> None:
    inp = lead_input(
        account={"employee_count": 30, "industry": "retail"},
        activities=[("trial_signup", 1), ("webinar_attended", 1), ("content_download", 2)],
    )
    with Evaluator(demo_book) as ev:
        report = _report(ev, inp)
        assert report.decay, report
        change = report.decay[0]
        assert change.message.startswith(f"{change.score} falls below {change.threshold:g} on ")
        for delta, above in ((-timedelta(hours=1), True), (timedelta(hours=1), False)):
            later = inp.model_copy(update={"now": change.at + delta})
            value = ev.evaluate(later, explain=False).score(change.score)
            assert (value >= change.threshold) is above, (delta, value)


def test_disqualified_lead_names_rule_and_reason(evaluator: Evaluator) -> None:
    inp = lead_input(lead={"email": "someone@hubspot.com"})
    report = _report(evaluator, inp)
    assert report.status == "disqualified"
    assert report.disqualified is not None
    assert report.disqualified.startswith("rule dq_competitor, reason competitor")
    assert report.headline == f"Disqualified: {report.disqualified}"


def test_owner_and_deadline_are_answered_apart(evaluator: Evaluator) -> None:
    inp = lead_input(
        lead={"title": "VP Marketing", "seniority": "vp", "country": "US"},
        account={"employee_count": 1500, "industry": "software"},
        activities=[("demo_request", 0.1)],
        reps=[{"rep_id": "r1", "territory": "NA", "segments": ["enterprise"], "capacity": 3}],
    )
    report = _report(evaluator, inp)
    assert report.status == "qualified"
    assert report.why_owner.startswith("owner r1: route ")
    assert "due " in report.why_deadline
    assert report.why_not_qualified == ()


def test_regexes_in_words() -> None:
    assert regex_in_words(".*(vp|chief|cro).*", True) == (
        'to contain "vp", "chief" or "cro" (any case)'
    )
    assert regex_in_words("(test|asdf).*", False) == 'to start with "test" or "asdf"'
    assert regex_in_words("[a-z]+@x", False) == "to match the pattern `[a-z]+@x`"


def test_a_headline_without_known_failures_has_no_empty_parentheses(
    evaluator: Evaluator,
) -> None:
    """A result whose "why not" is not at hand (evaluated without it) still reads as a
    sentence: the closest rule, without an empty "()"."""
    inp = lead_input(activities=[("page_view", 1), ("page_view", 2), ("email_open", 1)])
    result = evaluator.evaluate(inp, explain=False)
    line = near_miss_headline(evaluator.book, result)
    assert line.startswith("Not mql yet: closest is rule ")
    assert "()" not in line
