"""The near-miss report of an evaluation, with its what-ifs evaluated by the engine pool.

The report itself is pure (:mod:`rules.nearmiss`); this module runs the inputs it asks for (the
lead plus one new activity of each useful type) through the same workers as every evaluation,
concurrently, so each suggestion in the report was seen to make its rule fire.
"""

from __future__ import annotations

import asyncio
from typing import Any

from api.engine import RulesEngine
from rules import EvaluationInput, EvaluationResult
from rules.nearmiss import NearMiss, near_miss, near_miss_headline, what_ifs


async def near_miss_report(
    *, engine: RulesEngine, fact_input: EvaluationInput | dict[str, Any], result: EvaluationResult
) -> NearMiss | None:
    """The report, or None when the evaluation ran on another rulebook version than the active one
    (its rules may not exist any more; replaying it on its own version is the evaluation
    record's job)."""
    if result.rulebook_version != engine.version:
        return None
    inp = (
        fact_input
        if isinstance(fact_input, EvaluationInput)
        else EvaluationInput.model_validate(fact_input)
    )
    book = engine.rulebook
    planned = what_ifs(book, inp, result)
    done = await asyncio.gather(
        *(engine.evaluate(what_if, explain=False) for what_if in planned.values())
    )
    return near_miss(book, inp, result, dict(zip(planned, done, strict=True)))


def headline(engine: RulesEngine, result: EvaluationResult) -> str | None:
    """The near-miss headline (no what-ifs: cheap enough for list pages), or None when the
    evaluation ran on another rulebook version."""
    if result.rulebook_version != engine.version:
        return None
    return near_miss_headline(engine.rulebook, result)
