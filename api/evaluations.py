"""Reading stored evaluations back as the engine's result model, for explanation and replay."""

from __future__ import annotations

from api.models import Evaluation
from rules import EvaluationResult


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
