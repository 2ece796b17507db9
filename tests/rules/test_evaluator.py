"""The in-process evaluator: outcomes, robustness on odd input, sessions always freed."""

from __future__ import annotations

import json
import math
from datetime import timedelta

import pytest

from rules import EvaluationInput, Evaluator, InvalidInput, Rulebook
from rules.models import EvaluationResult
from tests.rules.conftest import NOW, lead_input

EVERY_ACTIVITY = [
    ("page_view", 0.5),
    ("pricing_page_view", 2),
    ("demo_request", 1),
    ("trial_signup", 1),
    ("meeting_booked", 1),
    ("webinar_attended", 3),
    ("content_download", 3),
    ("form_submit", 3),
    ("email_click", 1),
    ("email_open", 1),
    ("email_open", 2),
    ("email_open", 3),
]


def test_lead_matching_nothing(evaluator: Evaluator) -> None:
    result = evaluator.evaluate(lead_input())
    assert result.stage.to_stage is None
    assert result.fired_names == ["route_global_fallback"]
    assert all(s.value == 0 for s in result.scores.values())
    assert result.routing.rep_id is None
    assert result.sla is None
    assert {e.rule for e in result.not_fired} >= {"fit_enterprise", "mql_demo_request"}


def test_lead_matching_everything(evaluator: Evaluator) -> None:
    inp = lead_input(
        lead={
            "email": "test.vp@hubspot.com",
            "title": "VP and student intern",
            "seniority": "vp",
            "department": "sales",
            "country": "US",
        },
        account={"employee_count": 5000, "industry": "software", "annual_revenue": 5e8},
        activities=EVERY_ACTIVITY * 20,
    )
    result = evaluator.evaluate(inp)
    assert result.stage.to_stage == "disqualified"
    assert result.scores["engagement"].value == 100  # capped
    assert len(result.fired) > 25


@pytest.mark.parametrize(
    "account",
    [
        {"employee_count": 0, "annual_revenue": 0.0},
        {"employee_count": 10**14, "annual_revenue": 1e300},
        {"employee_count": 7, "annual_revenue": 1e-9},
        {"employee_count": 200, "annual_revenue": 0.1 + 0.2},
    ],
)
def test_odd_numbers(evaluator: Evaluator, account: dict[str, float]) -> None:
    result = evaluator.evaluate(lead_input(account=account))
    assert all(math.isfinite(s.value) for s in result.scores.values())


@pytest.mark.parametrize(
    "title",
    [
        "",
        " ",
        'VP "quoted" \\ backslash',
        "Директор по маркетингу",
        "VP 🚀 growth",
        "x" * 5000,
        "null",
        "1e5",
        "$and",
        "sid",
    ],
)
def test_odd_strings(evaluator: Evaluator, title: str) -> None:
    result = evaluator.evaluate(lead_input(lead={"title": title, "country": title[:2]}))
    assert isinstance(result, EvaluationResult)


def test_unicode_title_matches_regex(evaluator: Evaluator) -> None:
    result = evaluator.evaluate(lead_input(lead={"title": "VP Маркетинг 🚀"}))
    assert "fit_exec_title" in result.fired_names


def test_identical_activities_are_distinct_facts(evaluator: Evaluator) -> None:
    inp = lead_input(activities=[("email_open", 1)] * 5)
    assert "eng_email_opens" in evaluator.evaluate(inp).fired_names


def test_activity_counts_and_windows(evaluator: Evaluator) -> None:
    two = evaluator.evaluate(lead_input(activities=[("email_open", 1), ("email_open", 2)]))
    assert "eng_email_opens" not in two.fired_names
    old = lead_input(activities=[("email_open", 1), ("email_open", 2), ("email_open", 15)])
    assert "eng_email_opens" not in evaluator.evaluate(old).fired_names
    three = lead_input(activities=[("email_open", 1), ("email_open", 2), ("email_open", 13)])
    assert "eng_email_opens" in evaluator.evaluate(three).fired_names


def test_sequence_needs_order_and_gap(evaluator: Evaluator) -> None:
    in_order = lead_input(activities=[("pricing_page_view", 5), ("demo_request", 1)])
    assert "eng_pricing_then_demo" in evaluator.evaluate(in_order).fired_names
    reversed_ = lead_input(activities=[("pricing_page_view", 1), ("demo_request", 5)])
    assert "eng_pricing_then_demo" not in evaluator.evaluate(reversed_).fired_names
    too_far = lead_input(activities=[("pricing_page_view", 10), ("demo_request", 1)])
    assert "eng_pricing_then_demo" not in evaluator.evaluate(too_far).fired_names


def test_engagement_decays_with_half_life(evaluator: Evaluator) -> None:
    fresh = evaluator.evaluate(lead_input(activities=[("demo_request", 0)]))
    old = evaluator.evaluate(lead_input(activities=[("demo_request", 14)]))
    assert fresh.scores["engagement"].value == pytest.approx(30)
    assert old.scores["engagement"].value == pytest.approx(15)
    contribution = old.contributions[0]
    assert contribution.decay_factor == pytest.approx(0.5)
    assert contribution.activity_age_days == pytest.approx(14)


def test_per_activity_signal_is_capped_by_max_count(evaluator: Evaluator) -> None:
    result = evaluator.evaluate(lead_input(activities=[("page_view", 0)] * 25))
    page_views = next(c for c in result.contributions if c.signal == "eng_page_views")
    assert page_views.matches == 10
    assert page_views.value == pytest.approx(10)


def test_future_and_old_activities_are_ignored(evaluator: Evaluator) -> None:
    result = evaluator.evaluate(
        lead_input(activities=[("demo_request", -1), ("demo_request", 400)])
    )
    assert "eng_demo_request" not in result.fired_names


def test_unknown_stage_is_rejected(evaluator: Evaluator) -> None:
    with pytest.raises(InvalidInput, match="unknown stage"):
        evaluator.evaluate(lead_input(lead={"stage": "zombie"}))


def test_sla_deadline_from_injected_now(evaluator: Evaluator) -> None:
    inp = lead_input(
        lead={"title": "VP Sales", "country": "US"},
        account={"employee_count": 3000},
        activities=[("demo_request", 1)],
    )
    result = evaluator.evaluate(inp)
    assert result.sla is not None
    assert (result.sla.priority, result.sla.hours) == ("p1", 4)
    assert result.sla.deadline == NOW + timedelta(hours=4)


def test_round_robin_oldest_then_rep_id(evaluator: Evaluator) -> None:
    base = {"territory": "NA", "segments": ["enterprise"], "capacity": 3}
    reps = [
        {**base, "rep_id": "b", "last_assigned_at": NOW - timedelta(days=2)},
        {**base, "rep_id": "a", "last_assigned_at": NOW - timedelta(days=2)},
        {**base, "rep_id": "c", "last_assigned_at": NOW - timedelta(days=1)},
        {**base, "rep_id": "full", "open_handoffs": 3},
        {**base, "rep_id": "inactive", "active": False},
    ]
    inp = lead_input(
        lead={"title": "VP Sales", "country": "US"},
        account={"employee_count": 3000},
        activities=[("demo_request", 1)],
        reps=reps,
    )
    result = evaluator.evaluate(inp)
    assert result.routing.rep_id == "a"
    assert result.routing.route == "route_na_enterprise"


def test_adjustments_are_bounded_scoped_and_expire(evaluator: Evaluator) -> None:
    def adj(delta: float, scope_value: str = "smb", days: float = 10) -> dict[str, object]:
        return {
            "score": "fit",
            "delta": delta,
            "scope": "segment",
            "scope_value": scope_value,
            "expires_at": NOW + timedelta(days=days),
        }

    account = {"employee_count": 1500, "segment": "smb", "industry": "software"}
    plain = evaluator.evaluate(lead_input(account=account)).scores["fit"]
    inp = lead_input(
        account=account,
        adjustments=[adj(-15), adj(-15), adj(-30, "enterprise"), adj(-30, days=-1)],
    )
    fit = evaluator.evaluate(inp).scores["fit"]
    assert fit.adjustment == -20  # two -15 in scope, bounded at ±20
    assert fit.value == plain.value - 20


def test_result_and_input_round_trip_as_json(evaluator: Evaluator) -> None:
    inp = lead_input(lead={"country": "DE"}, activities=[("webinar_attended", 3)])
    result = evaluator.evaluate(inp)
    assert EvaluationResult.model_validate_json(result.model_dump_json()) == result
    assert EvaluationInput.model_validate_json(inp.model_dump_json()) == inp
    json.loads(result.model_dump_json())


def test_replay_gives_the_same_outcome(evaluator: Evaluator) -> None:
    inp = lead_input(lead={"title": "CMO", "country": "FR"}, activities=EVERY_ACTIVITY)
    first = evaluator.evaluate(inp).model_dump(exclude={"duration_ms"})
    again = evaluator.evaluate(EvaluationInput.model_validate_json(inp.model_dump_json()))
    assert again.model_dump(exclude={"duration_ms"}) == first


def test_sessions_are_always_deleted(evaluator: Evaluator) -> None:
    """More than 1,024 live sessions would raise MemoryError (DESIGN.md §4)."""
    inp = lead_input(lead={"country": "US"}, activities=EVERY_ACTIVITY)
    for _ in range(3000):
        evaluator.evaluate(inp, explain=False)


def test_rulesets_are_versioned_and_freed(demo_book: Rulebook) -> None:
    names = []
    for _ in range(3):
        with Evaluator(demo_book) as ev:
            names.append(ev.ruleset.name)
            ev.evaluate(lead_input())
    assert len(set(names)) == 3
    assert all(n.startswith(f"leadgate_{demo_book.version[:12]}_") for n in names)


def test_engine_error_is_typed_and_process_survives(
    demo_book: Rulebook, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Error 303 (too many simultaneous matches) must not reach delete_state (it aborts)."""
    import dataclasses

    from rules import EngineError, limits
    from rules import conditions as c

    # The compiler packs rules so that 303 cannot happen; lift its limit to provoke it here.
    monkeypatch.setattr(limits, "MAX_PATTERNS_PER_FACT", 1000)

    signal = demo_book.signals[0]
    distinct = tuple(
        dataclasses.replace(
            signal,
            name=f"s{i}",
            when=c.Compare("account.employee_count", "gte", i, False, signal.loc),
        )
        for i in range(70)
    )
    unchecked = dataclasses.replace(demo_book, signals=distinct)  # bypasses the validator
    with Evaluator(unchecked) as ev:
        with pytest.raises(EngineError, match="303"):
            ev.evaluate(lead_input(account={"employee_count": 5000}))
        assert ev.leaked_sessions == 1
        assert ev.evaluate(lead_input(account={"employee_count": 5})).stage.to_stage is None
