"""A simulation's report, and what publishing would do to one lead, counted into it.

:func:`plan_moves` is the part of ``api.outcomes.plan_rows`` (what publishing writes) that
decides the move, the refusal and the owner, without packing the rows it would write nor
counting an evaluation: a simulation writes and evaluates nothing for real.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import cast

from api.bulk_read import LeadState
from api.enums import LifecycleStage
from api.lifecycle import guard_move
from rules import EvaluationResult
from rules.brief import BriefResult

BUCKETS = 10
KINDS = ("move", "handoff", "owner", "score")


@dataclass(slots=True)
class Sample:
    """One lead whose outcome would change, with both results for an explanation."""

    kind: str
    lead_id: int
    email: str
    stage_before: str
    stage_after: str
    owner_before: int | None
    owner_after: int | None
    before: EvaluationResult
    after: EvaluationResult


@dataclass(slots=True)
class Histogram:
    score: str
    edges: list[float]
    before: list[int]
    after: list[int]


@dataclass(slots=True)
class Impact:
    candidate_version: str
    current_version: str
    leads: int = 0
    failed: int = 0
    moves: Counter[tuple[str, str]] = field(default_factory=Counter)
    refused: int = 0
    handoffs: int = 0
    owners_gained: Counter[int] = field(default_factory=Counter)
    owners_lost: Counter[int] = field(default_factory=Counter)
    scores_changed: int = 0
    fires_before: Counter[str] = field(default_factory=Counter)
    fires_after: Counter[str] = field(default_factory=Counter)
    histograms: dict[str, Histogram] = field(default_factory=dict)
    stay_leads: int = 0
    """Leads at the handoff stage the candidate would not bring there: they stay (no backward
    move), as do their handoffs."""
    stay_handoffs: int = 0
    samples: dict[str, list[Sample]] = field(default_factory=lambda: {k: [] for k in KINDS})

    @property
    def moved(self) -> int:
        return sum(self.moves.values())

    def fire_changes(self) -> list[tuple[str, int, int]]:
        names = sorted(set(self.fires_before) | set(self.fires_after))
        rows = [(n, self.fires_before[n], self.fires_after[n]) for n in names]
        return [r for r in rows if r[1] != r[2]]


Counted = BriefResult | EvaluationResult
"""A candidate's result as routing leaves it: brief, or full where the lead was routed."""


@dataclass(frozen=True, slots=True)
class MovePlan:
    """What publishing would do to one lead (the deciding part of ``plan_outcome``)."""

    stage_after: LifecycleStage
    refused: str | None
    owner_id: int | None
    """The owner publishing would give (None: the lead keeps its owner)."""
    handoff: bool


def plan_moves(
    *, handoff_stage: str, lead: LeadState, result: Counted, has_open_handoff: bool
) -> MovePlan:
    """The lifecycle guards and the owner (``api.lifecycle.guard_move``, as ``plan_rows``
    applies them), without the rows publishing writes."""
    move = guard_move(
        stage_before=lead.stage,
        target=result.stage.to_stage,
        reason=result.stage.reason,
        rep_id=result.routing.rep_id,
        owner_id=lead.owner_id,
        has_open_handoff=has_open_handoff,
        handoff_stage=handoff_stage,
    )
    owner_id = move.owner_id
    return MovePlan(
        move.stage_after, move.refused, owner_id, owner_id is not None and not has_open_handoff
    )


def count_lead(
    impact: Impact, lead: LeadState, plan: MovePlan, before: BriefResult, after: Counted
) -> list[str]:
    """Count one lead's changes; the kinds of change it shows."""
    impact.leads += 1
    before_scores = before.score_values
    after_scores = _values(after)
    impact.fires_before.update(before.fired_names)
    impact.fires_after.update(after.fired_names)
    for name, hist in impact.histograms.items():
        value = before_scores.get(name)
        if value is not None:
            hist.before[_bucket(value, hist.edges)] += 1
        value = after_scores.get(name)
        if value is not None:
            hist.after[_bucket(value, hist.edges)] += 1
    owner_before = lead.owner_id
    owner_after = plan.owner_id if plan.owner_id is not None else owner_before
    kinds = []
    if plan.stage_after != lead.stage:
        impact.moves[(lead.stage.value, plan.stage_after.value)] += 1
        kinds.append("move")
    if plan.refused:
        impact.refused += 1
    if plan.handoff:
        impact.handoffs += 1
        kinds.append("handoff")
    if owner_after != owner_before:
        impact.owners_gained[cast(int, owner_after)] += 1
        if owner_before is not None:
            impact.owners_lost[owner_before] += 1
        kinds.append("owner")
    if _changed(before_scores, after_scores):
        impact.scores_changed += 1
        kinds.append("score")
    return kinds


def _changed(before: dict[str, float], after: dict[str, float]) -> bool:
    """Whether the scores differ to two decimals (what the report shows)."""
    if before.keys() != after.keys():
        return True
    return any(round(value, 2) != round(after[name], 2) for name, value in before.items())


def _values(result: Counted) -> dict[str, float]:
    if isinstance(result, BriefResult):
        return result.score_values
    return {name: score.value for name, score in result.scores.items()}


def _bucket(value: float, edges: list[float]) -> int:
    width = edges[1] - edges[0] if len(edges) > 1 and edges[1] > edges[0] else 1.0
    return min(max(int(value // width), 0), len(edges) - 2)
