"""Feedback rules → bounded, expiring targeting adjustments naming their causes."""

from __future__ import annotations

from datetime import timedelta

from rules import FeedbackEvaluator, FeedbackEvent, Rulebook, evaluate_feedback
from tests.rules.conftest import NOW


def _event(i: int, days: float, **kw: object) -> FeedbackEvent:
    data = {"feedback_id": f"f{i}", "occurred_at": NOW - timedelta(days=days), **kw}
    return FeedbackEvent.model_validate(data)


def test_three_rejections_in_segment(demo_book: Rulebook) -> None:
    events = [
        _event(i, i * 9, type="rejected", reason="too_small", segment="smb") for i in range(4)
    ]
    [adj] = evaluate_feedback(demo_book, events, NOW)
    assert (adj.rule, adj.score, adj.delta, adj.scope, adj.scope_value) == (
        "fb_too_small_smb",
        "fit",
        -15,
        "segment",
        "smb",
    )
    assert adj.expires_at == NOW + timedelta(days=60)
    assert adj.caused_by == ["f0", "f1", "f2", "f3"]  # 27 days ago is inside 30


def test_pattern_needs_count_reason_segment_and_window(demo_book: Rulebook) -> None:
    two = [_event(i, 1, type="rejected", reason="too_small", segment="smb") for i in range(2)]
    old = _event(9, 31, type="rejected", reason="too_small", segment="smb")
    other_reason = _event(8, 1, type="rejected", reason="no_budget", segment="smb")
    other_segment = _event(7, 1, type="rejected", reason="too_small", segment="enterprise")
    assert evaluate_feedback(demo_book, [*two, old, other_reason, other_segment], NOW) == []


def test_group_by_campaign_one_adjustment_per_campaign(demo_book: Rulebook) -> None:
    events = [
        _event(i, 1, type="rejected", reason="wrong_persona", campaign=c)
        for i, c in enumerate(["spring", "spring", "spring", "fall", "fall", "fall", "x"])
    ]
    adjustments = evaluate_feedback(demo_book, events, NOW)
    assert [(a.rule, a.scope_value) for a in adjustments] == [
        ("fb_wrong_persona_campaign", "fall"),
        ("fb_wrong_persona_campaign", "spring"),
    ]


def test_rule_without_reason_counts_every_reason(demo_book: Rulebook) -> None:
    events = [_event(1, 3, type="won", campaign="c1"), _event(2, 4, type="won", campaign="c1")]
    [adj] = evaluate_feedback(demo_book, events, NOW)
    assert (adj.rule, adj.delta, adj.scope_value) == ("fb_won_campaign", 10, "c1")


def test_no_events_and_future_events(demo_book: Rulebook) -> None:
    future = [_event(i, -1, type="won", campaign="c1") for i in range(3)]
    assert evaluate_feedback(demo_book, [], NOW) == []
    assert evaluate_feedback(demo_book, future, NOW) == []


def test_evaluator_reuse(demo_book: Rulebook) -> None:
    fb = FeedbackEvaluator(demo_book)
    try:
        for _ in range(1500):
            assert fb.evaluate([], NOW) == []
    finally:
        fb.close()
