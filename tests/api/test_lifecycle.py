"""The stage machine: forward moves, reasons for recycle/disqualify, no silent backward jumps."""

from __future__ import annotations

import pytest

from api.enums import LifecycleStage as S
from api.errors import IllegalTransition
from api.lifecycle import allowed_targets, check_transition


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (S.NEW, S.ENGAGED),
        (S.NEW, S.MQL),
        (S.ENGAGED, S.MQL),
        (S.MQL, S.SAL),
        (S.SAL, S.SQL),
        (S.OPPORTUNITY, S.CUSTOMER),
        (S.RECYCLED, S.MQL),
    ],
)
def test_forward_moves_are_allowed(current: S, target: S) -> None:
    check_transition(current, target)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (S.MQL, S.ENGAGED),
        (S.SAL, S.MQL),
        (S.CUSTOMER, S.MQL),
        (S.CUSTOMER, S.RECYCLED),
        (S.DISQUALIFIED, S.MQL),
        (S.RECYCLED, S.SAL),
        (S.MQL, S.MQL),
    ],
)
def test_backward_and_final_moves_are_refused_with_a_suggestion(current: S, target: S) -> None:
    with pytest.raises(IllegalTransition) as caught:
        check_transition(current, target, reason="bad_timing")
    assert f"from {current} to {target}" in caught.value.message
    assert caught.value.suggestion is not None
    assert caught.value.suggestion.startswith(f"from {current} a lead can move to")


@pytest.mark.parametrize("target", [S.RECYCLED, S.DISQUALIFIED])
def test_recycle_and_disqualify_need_a_reason(target: S) -> None:
    with pytest.raises(IllegalTransition, match="needs a reason"):
        check_transition(S.MQL, target)
    check_transition(S.MQL, target, reason="bad_timing")


def test_disqualified_leads_can_only_be_reopened_through_recycle() -> None:
    assert allowed_targets(S.DISQUALIFIED) == [S.RECYCLED]
    assert allowed_targets(S.CUSTOMER) == []
