"""The lifecycle guard behind the engine: a move the rules ask for but the lifecycle forbids
is recorded as refused and not applied (the rulebook validator should make this rare)."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.applications import Starlette

from api.enums import EvaluationTrigger, LifecycleStage
from api.models import Evaluation, Lead, LeadStageChange
from api.qualification import apply_outcome
from rules import EvaluationInput, EvaluationResult, LeadData

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


def result_moving(from_stage: str, to_stage: str) -> EvaluationResult:
    return EvaluationResult.model_validate(
        {
            "rulebook_version": "test",
            "fired": [{"name": "odd_rule", "section": "qualification", "effect": "stage"}],
            "contributions": [],
            "scores": {},
            "stage": {"from_stage": from_stage, "to_stage": to_stage, "rule": "odd_rule"},
            "routing": {"route": None, "rep_id": None, "why": "not routed"},
            "sla": None,
            "not_fired": [],
            "duration_ms": 0.1,
        }
    )


async def test_a_backward_move_is_refused_and_recorded(app: Starlette) -> None:
    lead = await Lead.create(email="sal@acme.com", stage=LifecycleStage.SAL)
    outcome = await apply_outcome(
        handoff_stage="mql",
        lead=lead,
        fact_input=EvaluationInput(lead=LeadData(email=lead.email, stage="sal"), now=NOW),
        result=result_moving("sal", "engaged"),
        trigger=EvaluationTrigger.API,
        now=NOW,
    )
    assert outcome.refused_transition == "a lead cannot move from sal to engaged"
    assert (await Lead.get(id=lead.id)).stage == LifecycleStage.SAL
    [change] = await LeadStageChange.filter(lead_id=lead.id)
    assert (change.from_stage, change.to_stage, change.applied) == (
        LifecycleStage.SAL,
        LifecycleStage.ENGAGED,
        False,
    )
    stored = await Evaluation.get(lead_id=lead.id)
    assert stored.stage_after == LifecycleStage.SAL
    assert stored.outcome["refused_transition"] == outcome.refused_transition
