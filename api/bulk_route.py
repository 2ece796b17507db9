"""Routing a batch the workers evaluated, as if one lead at a time: the reps' state
(:class:`RepBook`) as it evolves through a bulk run, and :func:`route_batch`, which the bulk job
and the simulation share (so simulate predicts what publishing does)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TypeVar

from api.bulk_read import LeadState
from api.engine import RulesEngine
from api.evaluations import Plain, plain_result
from api.shares import apply_shares, latest_shares
from rules import EvaluationInput, EvaluationResult, RepData, RepShare, RulesError
from rules.record import PackedInput, PackedResult, pack

R = TypeVar("R", EvaluationResult, Plain, PackedResult)
In = TypeVar("In", EvaluationInput, PackedInput)


async def route_batch(
    engine: RulesEngine,
    reps: RepBook,
    states: Sequence[LeadState],
    inputs: dict[int, In],
    outcomes: Sequence[R | RulesError],
) -> tuple[dict[int, tuple[In, R]], int]:
    """A batch evaluated with the reps as at its start, routed as if one lead at a time.

    Only leads moving into the handoff stage, or waiting there without an owner, get one, and
    routing state moves on within the run: those are evaluated again, one after the other, so
    round robin and capacity see earlier picks. Returns each lead's input and result (models,
    plain data or packed records, as given), and how many failed. Shared by the bulk job and
    ``api.simulation`` so that simulate predicts what publishing does."""
    handoff = engine.handoff_stage
    results: dict[int, tuple[In, R]] = {}
    failed = 0
    for state, outcome in zip(states, outcomes, strict=True):
        fact_input = inputs[state.id]
        if isinstance(outcome, RulesError):
            failed += 1
            continue
        to_stage, from_stage, rep_id, _ = _routed(outcome)
        moving_in = to_stage == handoff and to_stage != from_stage
        waiting = (to_stage or from_stage) == handoff and state.owner_id is None
        if moving_in or (waiting and rep_id is not None):
            model = fact_input.model() if isinstance(fact_input, PackedInput) else fact_input
            model = model.model_copy(update={"reps": reps.current()})
            try:  # no "why not": records replay it on demand
                again = await engine.evaluate(model, explain=False)
            except RulesError:
                failed += 1
                continue
            if isinstance(outcome, PackedResult):  # packed results come with packed inputs
                assert isinstance(fact_input, PackedInput)
                outcome = pack(plain_result(again), fact_input.rows)
            elif isinstance(outcome, dict):
                outcome = plain_result(again)
            else:
                outcome = again
            if isinstance(fact_input, PackedInput):
                fact_input = fact_input._replace(reps=model.reps)
            else:
                fact_input = model
        to_stage, from_stage, rep_id, shares = _routed(outcome)
        # Waiting leads (at the handoff stage with no owner) are routed too (#11): every
        # pick is counted here, before the next batch is read, since that batch no longer
        # re-reads the reps from the database.
        if rep_id is not None and (to_stage or from_stage) == handoff and state.owner_id is None:
            reps.assigned(rep_id, shares)
        results[state.id] = (fact_input, outcome)
    return results, failed


def _routed(
    outcome: EvaluationResult | Plain | PackedResult,
) -> tuple[str | None, str, str | None, Sequence[RepShare]]:
    """Target stage, current stage, picked rep and ledger rows, of a model, plain data or a
    packed record."""
    if isinstance(outcome, PackedResult):
        return outcome.to_stage, outcome.from_stage, outcome.rep_id, outcome.shares
    if isinstance(outcome, dict):
        stage, routing = outcome["stage"], outcome["routing"]
        return stage["to_stage"], stage["from_stage"], routing["rep_id"], routing.get("shares", ())
    stage_, routing_ = outcome.stage, outcome.routing
    return stage_.to_stage, stage_.from_stage, routing_.rep_id, routing_.shares


class RepBook:
    """The reps' routing state as it evolves through one batch: open handoffs, the last
    assignment and the routing ledger (rules/pick.py), so each pick sees the earlier ones.

    Each assignment gets a distinct, increasing time (1 µs apart) so that round robin sees the
    order of assignments inside a batch and across batches, as it would one lead at a time.
    """

    def __init__(self, reps: list[RepData], now: datetime) -> None:
        self._reps = {r.rep_id: r for r in reps}
        stamps = [r.last_assigned_at for r in reps if r.last_assigned_at is not None]
        self._clock = max([now, *stamps])
        self._touched: set[str] = set()

    def current(self) -> list[RepData]:
        return list(self._reps.values())

    def assigned(self, rep_id: str, shares: Sequence[RepShare] = ()) -> None:
        rep = self._reps.get(rep_id)
        if rep is not None:
            self._clock += timedelta(microseconds=1)
            self._reps[rep_id] = rep.model_copy(
                update={"open_handoffs": rep.open_handoffs + 1, "last_assigned_at": self._clock}
            )
        if shares:
            for updated in apply_shares([self._reps[s.rep_id] for s in shares], shares):
                self._reps[updated.rep_id] = updated
            self._touched.update(s.rep_id for s in shares)

    def changed_shares(self) -> list[RepShare]:
        """The ledger rows of every rep a pick changed since the last call (one batch)."""
        touched, self._touched = self._touched, set()
        return latest_shares(self._reps.values(), touched)

    def last_assigned(self, rep_id: int) -> datetime | None:
        rep = self._reps.get(str(rep_id))
        return rep.last_assigned_at if rep else None
