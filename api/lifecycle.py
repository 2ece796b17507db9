"""The lead stage machine: forward moves, recycle and disqualify with a reason, nothing silent.

``new → engaged → mql → sal → sql → opportunity → customer``, plus ``recycled`` (back to
nurture) and ``disqualified``. Moving forward may skip stages; moving back is only possible
through ``recycled``, which, like ``disqualified``, needs a reason.
"""

from __future__ import annotations

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
