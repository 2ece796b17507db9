"""Was the distribution fair? Per route (pool) and ISO week: what each rep got against the
share their weight and availability entitled them to (the routing ledger of rules/pick.py),
and how they answered: acceptance rate, time to accept, first-touch time of the whole chain.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from statistics import mean

from api.enums import HandoffStatus
from api.errors import NotFound
from api.models import HandoffStep, RoutingShare, SalesRep
from rules.pick import period_start
from rules.rulebook import Rulebook


@dataclass(frozen=True, slots=True)
class RepFairness:
    rep_id: int
    email: str
    name: str
    weight: float
    """The rep's weight over the weights of the reps in this report (sums to 1)."""
    assigned: int
    entitled: float
    """Leads the weight entitled the rep to while eligible (available, active, free)."""
    owed: float
    offered: int
    """Times the rep was given one of the route's handoffs (first owner or escalation)."""
    accepted: int
    mean_accept_hours: float | None
    """From the moment the rep got the handoff to their accept."""
    mean_first_touch_hours: float | None
    """From the first handoff of the chain to the accept (what the SLA counts)."""

    @property
    def below_share(self) -> float:
        return round(self.entitled - self.assigned, 6)

    @property
    def acceptance_rate(self) -> float | None:
        return self.accepted / self.offered if self.offered else None


@dataclass(frozen=True, slots=True)
class FairnessReport:
    route: str
    period_start: date
    period_end: date
    reps: list[RepFairness]


async def fairness_report(*, book: Rulebook, route: str, day: date) -> FairnessReport:
    """The report for the ISO week holding ``day`` (a fixed number of queries)."""
    found = next((r for r in book.routing.routes if r.name == route), None)
    if found is None:
        names = ", ".join(r.name for r in book.routing.routes)
        raise NotFound(
            f"no route `{route}` in the active rulebook", field="route", suggestion=names
        )
    start = period_start(datetime.combine(day, time(), UTC))
    end = start + timedelta(days=7)
    since, until = datetime.combine(start, time(), UTC), datetime.combine(end, time(), UTC)
    ledger = {
        row.rep_id: row  # type: ignore[attr-defined]
        for row in await RoutingShare.filter(route=route, period=start)
    }
    steps = await HandoffStep.filter(
        handoff__route=route, at__gte=since, at__lt=until, rep_id__isnull=False
    ).values(
        "rep_id",
        "at",
        "handoff__owner_id",
        "handoff__status",
        "handoff__decided_at",
        "handoff__created_at",
    )
    rep_ids = set(ledger) | {int(s["rep_id"]) for s in steps}
    reps = {r.id: r for r in await SalesRep.filter(id__in=list(rep_ids))}
    weights = dict(found.weights)
    raw = {rid: (weights.get(reps[rid].email, 0.0) if weights else 1.0) for rid in reps}
    total = sum(raw.values()) or 1.0
    rows = []
    for rid in sorted(reps):
        mine = [s for s in steps if s["rep_id"] == rid]
        won = [
            s
            for s in mine
            if s["handoff__owner_id"] == rid
            and s["handoff__status"] == HandoffStatus.ACCEPTED
            and s["handoff__decided_at"] is not None
        ]
        share = ledger.get(rid)
        rows.append(
            RepFairness(
                rep_id=rid,
                email=reps[rid].email,
                name=reps[rid].name,
                weight=round(raw[rid] / total, 6),
                assigned=share.assigned if share else 0,
                entitled=round(share.entitled, 6) if share else 0.0,
                owed=round(share.owed, 6) if share else 0.0,
                offered=len(mine),
                accepted=len(won),
                mean_accept_hours=_hours([s["handoff__decided_at"] - s["at"] for s in won]),
                mean_first_touch_hours=_hours(
                    [s["handoff__decided_at"] - s["handoff__created_at"] for s in won]
                ),
            )
        )
    return FairnessReport(route=route, period_start=start, period_end=end, reps=rows)


def _hours(spans: list[timedelta]) -> float | None:
    return round(mean(s.total_seconds() for s in spans) / 3600, 4) if spans else None


async def share_gauges(now: datetime) -> list[tuple[str, int, float, float]]:
    """(route, rep id, assigned, entitled) of this week, for the Prometheus scrape."""
    rows = await RoutingShare.filter(period=period_start(now)).values_list(
        "route", "rep_id", "assigned", "entitled"
    )
    return [(str(r), int(p), float(a), float(e)) for r, p, a, e in rows]
