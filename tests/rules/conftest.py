"""Fixtures for rules/ tests: the demo rulebook, an in-process evaluator, lead builders."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from rules import EvaluationInput, Evaluator, Rulebook, load_rulebook

DEMO = Path(__file__).resolve().parents[2] / "rules" / "demo"
NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def demo_book() -> Rulebook:
    return load_rulebook(DEMO)


@pytest.fixture(scope="session")
def evaluator(demo_book: Rulebook) -> Iterator[Evaluator]:
    with Evaluator(demo_book) as ev:
        yield ev


def lead_input(
    *,
    lead: dict[str, Any] | None = None,
    account: dict[str, Any] | None = None,
    activities: list[tuple[str, float]] = (),  # type: ignore[assignment]
    **extra: Any,
) -> EvaluationInput:
    """An input with activities given as (type, days ago)."""
    return EvaluationInput.model_validate(
        {
            "lead": {"email": "pat@example.org", **(lead or {})},
            "account": account or {},
            "activities": [
                {"type": t, "occurred_at": NOW - timedelta(days=d)} for t, d in activities
            ],
            "now": NOW,
            **extra,
        }
    )
