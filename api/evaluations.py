"""Reading stored evaluations back as the engine's result model, for explanation and replay."""

from __future__ import annotations

from api.errors import NotFound
from api.models import Evaluation
from rules import EvaluationInput, EvaluationResult


def stored_result(row: Evaluation) -> EvaluationResult:
    """The result exactly as the engine returned it when the evaluation ran."""
    outcome = row.outcome
    return EvaluationResult.model_validate(
        {
            "rulebook_version": row.rulebook_version,
            "fired": row.fired,
            "contributions": row.contributions,
            "scores": row.scores,
            "stage": outcome["stage"],
            "routing": outcome["routing"],
            "sla": outcome["sla"],
            "not_fired": row.failed,
            "duration_ms": row.duration_ms,
        }
    )


def stored_input(row: Evaluation) -> EvaluationInput:
    return EvaluationInput.model_validate(row.input)


async def get_evaluation(*, evaluation_id: int) -> Evaluation:
    row = await Evaluation.get_or_none(id=evaluation_id)
    if row is None:
        raise NotFound(f"no evaluation with id {evaluation_id}", field="id")
    return row
