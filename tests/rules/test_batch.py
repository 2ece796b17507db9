"""The engine batches' wire format (rules/batch.py) changes no result."""

from __future__ import annotations

import pickle
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from rules import EvaluationInput, EvaluationResult, Evaluator, batch
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
    shared = next(lead.reps for lead in leads if lead.reps)  # as in a bulk run: the same reps
    return [
        EvaluationInput.model_validate({**dict(lead), "reps": shared}) if lead.reps else lead
        for lead in leads
    ]


def same(result: Any) -> dict[str, Any]:
    assert isinstance(result, EvaluationResult)
    return result.model_copy(update={"duration_ms": 0.0}).model_dump(mode="json")


@pytest.mark.parametrize("explain", [False, True])
def test_the_batch_wire_format_gives_what_the_json_path_gave(
    evaluator: Evaluator, explain: bool
) -> None:
    """Inputs as JSON without reps plus the shared reps once, results as pickled plain data
    validated in the parent: the same results, field by field and in JSON, as before (input
    JSON, result JSON)."""
    cases = inputs()
    payload, reps = batch.pack(cases)
    assert len({id(c.reps) for c in cases if c.reps}) > 1  # validation copied the lists
    assert len(reps) == 1  # the reps every routed lead shares: sent once
    progress = SimpleNamespace(value=-1)
    items, retire = batch.run_in_worker(
        evaluator.decide, pickle.loads(pickle.dumps(payload)), reps, explain, {}, progress, _no
    )
    assert not retire
    items = pickle.loads(pickle.dumps(items))  # what the pipe does
    routed = 0
    for inp, item in zip(cases, items, strict=True):
        built = batch._decode(item)
        before = EvaluationResult.model_validate_json(
            evaluator.evaluate(
                EvaluationInput.model_validate_json(inp.model_dump_json()), explain=explain
            ).model_dump_json()
        )
        assert same(built) == same(before)
        assert isinstance(built, EvaluationResult)
        assert built.model_dump_json(exclude={"duration_ms"}) == before.model_dump_json(
            exclude={"duration_ms"}
        )
        routed += built.routing.rep_id is not None and built.sla is not None
    assert routed  # the cases reach routing and the SLA (hours: an int in the YAML)


def _no(kind: str) -> None:
    raise AssertionError(kind)


def test_a_bad_input_fails_alone(evaluator: Evaluator) -> None:
    payload, reps = batch.pack(inputs()[:3])
    payload[1] = ('{"lead": {}}', -1)
    items, _ = batch.run_in_worker(
        evaluator.decide, payload, reps, False, {}, SimpleNamespace(value=-1), _no
    )
    assert [type(batch._decode(i)).__name__ for i in items] == [
        "EvaluationResult", "RulesError", "EvaluationResult"
    ]  # fmt: skip
