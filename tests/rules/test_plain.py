"""Batch results built from plain data equal the validated models, field by field and in JSON."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from rules import EvaluationInput, EvaluationResult, Evaluator
from rules.plain import result_from_plain
from tests.rules.conftest import NOW, lead_input

BASE = {"territory": "NA", "segments": ["enterprise", "mid"], "capacity": 3}
REPS = [
    {**BASE, "rep_id": "b", "last_assigned_at": NOW - timedelta(days=2)},
    {**BASE, "rep_id": "a", "last_assigned_at": NOW - timedelta(days=2)},
    {**BASE, "rep_id": "full", "open_handoffs": 3},
]
ADJUST = [{"score": "fit", "delta": -5, "scope": "segment", "scope_value": "smb",
           "expires_at": NOW + timedelta(days=3)}]  # fmt: skip


def inputs() -> list[EvaluationInput]:
    leads: list[EvaluationInput] = []
    kinds = ["demo_request", "page_view", "email_click", "webinar_attended", "form_submit"]
    for i in range(24):
        leads.append(
            lead_input(
                lead={"title": ["VP Sales", "Engineer"][i % 4 // 3], "country": "US"},
                account={
                    "employee_count": [5, 300, 3000][i % 3],
                    "segment": ["smb", "mid", "enterprise"][i % 3],
                },
                activities=[(kinds[(i + j) % 5], j * 3.5) for j in range(i % 7)]
                + [("demo_request", 1)] * (i % 5 == 2),
                reps=REPS if i % 2 else [],
                adjustments=ADJUST if i % 4 == 1 else [],
            )
        )
    return leads


def same(result: EvaluationResult) -> dict[str, Any]:
    return result.model_copy(update={"duration_ms": 0.0}).model_dump(mode="json")


@pytest.mark.parametrize("explain", [False, True])
def test_results_from_plain_data_equal_validated_ones(evaluator: Evaluator, explain: bool) -> None:
    cases = inputs()
    routed = 0
    for inp in cases:
        plain = evaluator.decide(inp, explain=explain)
        built = result_from_plain(plain)
        validated = EvaluationResult.model_validate(evaluator.decide(inp, explain=explain))
        assert same(built) == same(validated)
        assert built.model_dump_json(exclude={"duration_ms"}) == validated.model_dump_json(
            exclude={"duration_ms"}
        )
        # the former wire format (JSON both ways) gives the same model too
        again = EvaluationResult.model_validate_json(validated.model_dump_json())
        assert same(built) == same(again)
        routed += built.routing.rep_id is not None and built.sla is not None
    assert routed  # the cases reach routing and SLA (floats from YAML ints: hours)


def test_sla_hours_given_as_int_become_float(evaluator: Evaluator) -> None:
    inp = lead_input(
        lead={"title": "VP Sales", "country": "US"},
        account={"employee_count": 3000},
        activities=[("demo_request", 1)],
        reps=REPS,
    )
    plain = evaluator.decide(inp, explain=False)
    assert plain["sla"] is not None
    plain["sla"] = {**plain["sla"], "hours": 4}
    built = result_from_plain(plain)
    assert built.sla is not None
    assert isinstance(built.sla.hours, float)
    assert '"hours":4.0' in built.model_dump_json()
