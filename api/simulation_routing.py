"""Routing a simulated batch in-process, as the bulk job routes it with the candidate engine.

A lead's routing (route, rep, ledger rows) is computed in Python from the rules the engine
fired and the final stage (``rules.handoff.Handoff.route_and_sla``, what ``Evaluator.decide``
calls); the engine's firing does not depend on the reps. So where the bulk job evaluates a lead
again in a worker to route it with the routing state of the moment (``api.bulk.route_batch``),
the simulation recomputes only its routing here, from the candidate's brief result: no worker
round trip, no full result to send back and validate, one lead after the other.

The same recomputation lets the simulation read and evaluate batches ahead: a batch evaluated
with the reps as they were when it was read has its routing recomputed with the reps the bulk
job would have read it with (:meth:`Router.as_read`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from api.engine import RulesEngine
from rules import EvaluationInput, RepData
from rules.brief import BriefOutcome, BriefResult, BriefRouting
from rules.handoff import Handoff


class Router:
    """What ``api.bulk.route_batch`` uses of the candidate engine (``handoff_stage``,
    ``evaluate``), answering from the batch's brief results with the routing recomputed."""

    def __init__(self, engine: RulesEngine) -> None:
        self.handoff_stage = engine.handoff_stage
        self._handoff = Handoff(engine.rulebook)
        self._results: dict[int, BriefResult] = {}
        """The batch's results by the identity of their input's lead (``route_batch`` copies
        an input with other reps; the copy shares the lead)."""

    def batch(
        self, inputs: Sequence[EvaluationInput | None], results: Sequence[BriefOutcome]
    ) -> None:
        """The batch ``route_batch`` is about to route (the inputs in results' order; None
        for leads it does not route: the candidate leaves them off the handoff stage)."""
        self._results = {
            id(inp.lead): result
            for inp, result in zip(inputs, results, strict=True)
            if inp is not None and isinstance(result, BriefResult)
        }

    async def evaluate(self, fact_input: EvaluationInput, *, explain: bool = False) -> BriefResult:
        """The lead's result with its routing as ``fact_input`` (its reps) gives it."""
        return self.routed(fact_input, self._results[id(fact_input.lead)])

    def routed(self, fact_input: EvaluationInput, result: BriefResult) -> BriefResult:
        stage = result.stage.to_stage or result.stage.from_stage
        routing, _ = self._handoff.route_and_sla(fact_input, set(result.fired_names), stage)
        shares = tuple(routing.get("shares", ()))
        return replace(result, routing=BriefRouting(routing["route"], routing["rep_id"], shares))

    def as_read(
        self,
        inputs: Sequence[EvaluationInput | None],
        results: list[BriefOutcome],
        reps: list[RepData],
    ) -> list[BriefOutcome]:
        """The results as they would be had the batch been read with ``reps``. Only routing
        depends on the reps, and only at the handoff stage (elsewhere it routes nowhere); a
        lead moving into it is routed again by ``route_batch`` with the reps of the moment
        whatever its first result says, so only the leads staying there are routed here (their
        inputs are given: None only for leads the candidate leaves off that stage)."""
        out = list(results)
        staying = (None, self.handoff_stage)
        for i, (inp, result) in enumerate(zip(inputs, results, strict=True)):
            if (
                inp is not None
                and isinstance(result, BriefResult)
                and result.stage.from_stage == self.handoff_stage
                and result.stage.to_stage in staying
            ):
                out[i] = self.routed(inp.model_copy(update={"reps": reps}), result)
        return out


def same_reps(a: Sequence[RepData], b: Sequence[RepData]) -> bool:
    """Whether two snapshots of the routing state are the same (a pick replaces the rep)."""
    return len(a) == len(b) and all(x is y for x, y in zip(a, b, strict=True))
