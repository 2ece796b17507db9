"""The lead stage machine: forward moves, recycle and disqualify with a reason, nothing silent.

``new → engaged → mql → sal → sql → opportunity → customer``, plus ``recycled`` (back to
nurture) and ``disqualified``. Moving forward may skip stages; moving back is only possible
through ``recycled``, which, like ``disqualified``, needs a reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from api.enums import LifecycleStage as S
from api.errors import IllegalTransition, StaleVersion

FUNNEL: tuple[S, ...] = (S.NEW, S.ENGAGED, S.MQL, S.SAL, S.SQL, S.OPPORTUNITY, S.CUSTOMER)
NEEDS_REASON = frozenset({S.RECYCLED, S.DISQUALIFIED})
# From recycled a lead re-enters the funnel through nurture stages only.
REENTRY = frozenset({S.ENGAGED, S.MQL})


def _rank(stage: S) -> int:
    return FUNNEL.index(stage)


def check_transition(current: S, target: S, *, reason: str | None = None) -> None:
    """Raise IllegalTransition when ``current → target`` is not allowed."""
    if target in NEEDS_REASON and not reason:
        raise IllegalTransition(
            f"moving a lead to {target} needs a reason",
            field="reason",
            suggestion="pass one of the rulebook's reason codes",
        )
    if _allowed(current, target):
        return
    raise IllegalTransition(
        f"a lead cannot move from {current} to {target}",
        field="stage",
        suggestion=_suggestion(current),
    )


def _allowed(current: S, target: S) -> bool:
    if current == target:
        return False
    if current == S.CUSTOMER:
        return False
    if current == S.DISQUALIFIED:
        return target == S.RECYCLED
    if target == S.RECYCLED:
        return current != S.RECYCLED
    if target == S.DISQUALIFIED:
        return True
    if current == S.RECYCLED:
        return target in REENTRY
    return _rank(target) > _rank(current)


def allowed_targets(current: S) -> list[S]:
    return [s for s in S if _allowed(current, s)]


def _suggestion(current: S) -> str:
    targets = ", ".join(allowed_targets(current)) or "none: this stage is final"
    return f"from {current} a lead can move to: {targets}"


def check_version(*, current: int, expected: int | None, what: str) -> None:
    """Optimistic concurrency: refuse a change made on a stale read."""
    if expected is not None and expected != current:
        raise StaleVersion(
            f"{what} is at version {current}, not {expected}: it changed since you read it",
            field="expectedVersion",
            suggestion="read it again, then retry with the new version",
        )


@dataclass(frozen=True, slots=True)
class GuardedMove:
    """What the lifecycle guards make of the stage and rep the rules asked for."""

    stage_after: S
    refused: str | None
    moved: bool
    owner_id: int | None
    reaches_handoff: bool


def guard_move(
    *,
    stage_before: S,
    target: str | None,
    reason: str | None,
    rep_id: str | None,
    owner_id: int | None,
    has_open_handoff: bool,
    handoff_stage: str,
) -> GuardedMove:
    """One place for the guards the bulk planner and the simulation both apply.

    A refusal means the rules and the lifecycle disagree; it is reported, not raised. A lead
    already at the handoff stage with no owner and no open handoff is waiting for a rep with
    free capacity (api/routing.py): its next evaluation routes it."""
    refused: str | None = None
    moved = False
    if target is not None and target != stage_before.value:
        try:  # the engine checks at load that rulebook stages are lifecycle stages
            check_transition(stage_before, S(target), reason=reason)
            moved = True
        except IllegalTransition as exc:
            refused = exc.message
    stage_after = S(target) if moved and target else stage_before
    waiting = not moved and owner_id is None and not has_open_handoff
    reaches_handoff = stage_after.value == handoff_stage and (moved or waiting)
    owner = int(rep_id) if reaches_handoff and rep_id else None
    return GuardedMove(stage_after, refused, moved, owner, reaches_handoff)
