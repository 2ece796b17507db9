"""The sample leads of a simulation, explained in full at the end (api/simulation.py).

While counting, a simulation keeps a few leads per kind of change (:class:`Pending`) and the
exact inputs they were decided on; their full results are evaluated again on those inputs
(results depend on nothing else) and "why not" is replayed in-process (rules/whynot.py).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import cast

from api.engine import RulesEngine
from api.impact import Impact, Sample
from api.models import Lead
from rules import EvaluationInput, EvaluationResult, RulesError, WhyNot


@dataclass(slots=True)
class Pending:
    """A sample chosen while counting; its full results are evaluated at the end."""

    kind: str
    lead_id: int
    stage_before: str
    stage_after: str
    owner_before: int | None
    owner_after: int | None


async def explain_samples(
    impact: Impact,
    current: RulesEngine,
    candidate: RulesEngine,
    pending: dict[str, list[Pending]],
    inputs: dict[int, tuple[EvaluationInput, EvaluationInput]],
) -> None:
    """The sample leads' full results, evaluated again on the exact inputs they were
    evaluated on (results depend on nothing else), with "why not" replayed; and their
    emails (the lean read has none)."""
    chosen = sorted({s.lead_id for kind in pending.values() for s in kind})
    if not chosen:
        return
    emails = dict(
        cast(
            list[tuple[int, str]],
            await Lead.filter(id__in=chosen).values_list("id", "email"),
        )
    )
    befores, afters = await asyncio.gather(
        current.evaluate_batch([inputs[i][0] for i in chosen]),
        candidate.evaluate_batch([inputs[i][1] for i in chosen]),
    )
    full_before = dict(zip(chosen, befores, strict=True))
    full_after = dict(zip(chosen, afters, strict=True))
    before_why = WhyNot(current.rulebook)
    after_why = WhyNot(candidate.rulebook)
    for kind, chosen_of_kind in pending.items():
        for p in chosen_of_kind:
            before, after = full_before[p.lead_id], full_after[p.lead_id]
            if isinstance(before, RulesError) or isinstance(after, RulesError):
                continue  # evaluated fine a moment ago: a worker lost meanwhile
            before_input, after_input = inputs[p.lead_id]
            impact.samples[kind].append(
                Sample(
                    kind=kind,
                    lead_id=p.lead_id,
                    email=emails.get(p.lead_id, ""),
                    stage_before=p.stage_before,
                    stage_after=p.stage_after,
                    owner_before=p.owner_before,
                    owner_after=p.owner_after,
                    before=_explained(before_why, before_input, before),
                    after=_explained(after_why, after_input, after),
                )
            )


def _explained(why: WhyNot, inp: EvaluationInput, result: EvaluationResult) -> EvaluationResult:
    if result.not_fired:
        return result
    not_fired = why.not_fired(
        inp,
        fired=result.fired_names,
        scores={name: score.value for name, score in result.scores.items()},
    )
    return result.model_copy(update={"not_fired": not_fired})
