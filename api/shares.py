"""The routing ledger (rules/pick.py) in the database, and the history of handoff owners.

Evaluations read this week's ledger with the reps (``RepData.shares``), like
``last_assigned_at``; a pick that becomes a handoff writes the rows it changed back, one
multi-row upsert per batch. Every owner a handoff gets is a ``HandoffStep`` with its reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from tortoise.functions import Count

from api.models import Handoff, HandoffStep, RoutingShare
from rules import RepData, RepShare, ShareData
from rules.pick import period_start

FIELDS = ("assigned", "entitled", "owed", "extra_day", "extra_count")


async def load_shares(now: datetime) -> dict[int, list[ShareData]]:
    """This week's ledger rows by rep id (one query)."""
    rows = await RoutingShare.filter(period=period_start(now)).order_by("id")
    out: dict[int, list[ShareData]] = {}
    for row in rows:
        out.setdefault(row.rep_id, []).append(  # type: ignore[attr-defined]
            ShareData(
                route=row.route,
                period=row.period,
                assigned=row.assigned,
                entitled=row.entitled,
                owed=row.owed,
                extra_day=row.extra_day,
                extra_count=row.extra_count,
            )
        )
    return out


def apply_shares(reps: Sequence[RepData], shares: Iterable[RepShare]) -> list[RepData]:
    """The reps with these ledger rows in place of their old ones (same route and week)."""
    by_rep: dict[str, list[ShareData]] = {}
    for item in shares:
        by_rep.setdefault(item.rep_id, []).append(item.share)
    out = []
    for rep in reps:
        new = by_rep.get(rep.rep_id)
        if not new:
            out.append(rep)
            continue
        keys = {(s.route, s.period) for s in new}
        kept = [s for s in rep.shares if (s.route, s.period) not in keys]
        out.append(rep.model_copy(update={"shares": [*kept, *new]}))
    return out


def latest_shares(reps: Iterable[RepData], touched: set[str]) -> list[RepShare]:
    """Every ledger row of the touched reps, to write back."""
    return [
        RepShare(rep_id=r.rep_id, share=s) for r in reps if r.rep_id in touched for s in r.shares
    ]


async def save_shares(shares: Sequence[RepShare]) -> None:
    """One multi-row upsert on (route, rep, week)."""
    if not shares:
        return
    latest = {(s.share.route, s.rep_id, s.share.period): s for s in shares}
    rows = [
        RoutingShare(
            route=s.share.route,
            rep_id=int(s.rep_id),
            period=s.share.period,
            assigned=s.share.assigned,
            entitled=s.share.entitled,
            owed=s.share.owed,
            extra_day=s.share.extra_day,
            extra_count=s.share.extra_count,
        )
        for s in latest.values()
    ]
    await RoutingShare.bulk_create(
        rows, on_conflict=("route", "rep_id", "period"), update_fields=FIELDS
    )


async def next_step_numbers(handoff_ids: Sequence[int]) -> dict[int, int]:
    """The next step number of each handoff (its count of steps), one grouped query."""
    if not handoff_ids:
        return {}
    rows = (
        await HandoffStep.filter(handoff_id__in=list(handoff_ids))
        .annotate(n=Count("id"))
        .group_by("handoff_id")
        .values_list("handoff_id", "n")
    )
    return {int(h): int(n) for h, n in rows}


def first_step(handoff: Handoff, reason: str, now: datetime) -> HandoffStep:
    """Step 0 of a new handoff: the owner the route picked, and why."""
    return HandoffStep(
        handoff_id=handoff.id,
        step=0,
        kind="assigned",
        rep_id=handoff.owner_id,  # type: ignore[attr-defined]
        reason=reason,
        at=now,
    )
