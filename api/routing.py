"""Leads waiting for a rep: they reached the handoff stage while no rep in their route had free
capacity (or before any rep existed), so they have no owner and no handoff.

They are a queue marketing and sales can see (the ``unroutedLeads`` query, the
``unrouted_leads`` metric), and routing is retried for them when capacity may have freed up:
after a handoff is decided or expires, when reps change, and on a clock as a safety net. A retry
only runs when the reps' capacity or availability (working hours, out of office) changed since
the last one, so a queue that cannot move writes no evaluations.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import cast

from tortoise.expressions import Subquery
from tortoise.functions import Count
from tortoise.queryset import QuerySet

from api.bulk import evaluate_leads
from api.engine import RulesEngine
from api.enums import EvaluationTrigger, HandoffStatus, LifecycleStage
from api.models import Handoff, Lead, SalesRep
from api.worktime import current_absences, rep_data
from rules.calendars import rep_calendar
from rules.rulebook import WorkingTime
from rules.worktime import available

log = logging.getLogger(__name__)

OPEN = (HandoffStatus.PENDING, HandoffStatus.EXPIRED)


def waiting_leads(handoff_stage: str) -> QuerySet[Lead]:
    """Leads at the handoff stage with no owner and no open handoff."""
    with_open_handoff = Handoff.filter(status__in=(*OPEN, HandoffStatus.QUEUED)).values("lead_id")
    return Lead.filter(stage=LifecycleStage(handoff_stage), owner_id__isnull=True).exclude(
        id__in=Subquery(with_open_handoff)
    )


async def capacity_signature(
    working_time: WorkingTime | None = None, now: datetime | None = None
) -> tuple[tuple[object, ...], ...]:
    """What routing depends on besides the lead: the reps, their open handoffs, and who is
    available now (working hours, out of office), so a queue moves when a team starts work."""
    now = now or datetime.now(UTC)
    reps = await SalesRep.all().order_by("id")
    load = dict(
        await Handoff.filter(status=HandoffStatus.PENDING)
        .annotate(n=Count("id"))
        .group_by("owner_id")
        .values_list("owner_id", "n")
    )
    away = await current_absences([r.id for r in reps], now)
    return tuple(
        (
            r.id,
            r.active,
            r.capacity,
            r.territory,
            r.segments,
            load.get(r.id, 0),
            available(rep_calendar(working_time or WorkingTime(), rep_data(r, absences=a)), now),
        )
        for r, a in zip(reps, away, strict=True)
    )


class Router:
    """Retries routing for waiting leads, at most once per change of the reps' capacity."""

    def __init__(self) -> None:
        self._tried: tuple[tuple[object, ...], ...] | None = None

    async def retry(self, engine: RulesEngine) -> str | None:
        working_time = engine.rulebook.working_time
        signature = await capacity_signature(working_time)
        if signature == self._tried:
            return None
        ids = sorted(
            cast(list[int], await waiting_leads(engine.handoff_stage).values_list("id", flat=True))
        )
        if not ids:
            self._tried = signature
            return None
        summary = await evaluate_leads(
            engine=engine, lead_ids=ids, trigger=EvaluationTrigger.SCHEDULE
        )
        self._tried = await capacity_signature(working_time)
        return f"{len(ids)} waiting leads re-routed, {summary.handoffs} handed off"
