"""Where a lead goes and by when: the route, the rep inside its pool, and the SLA deadline.

Computed from the rules the engine fired (rules/evaluator.py): the first fired route (file
order) with an eligible rep; the pick inside its pool is rules/pick.py's (weights, catch-up;
equal weights pick in round robin order); the deadline counts wall-clock hours or hours of the
owner's working time.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from rules import worktime
from rules.calendars import rep_calendar
from rules.escalation import escalate_at
from rules.models import EvaluationInput, RepData
from rules.pick import pick, route_policy
from rules.rulebook import Route, Rulebook


class Handoff:
    """Routing and SLA of one rulebook."""

    def __init__(self, book: Rulebook) -> None:
        self.book = book
        self._policies = {r.name: route_policy(r) for r in book.routing.routes}

    def route_and_sla(
        self, inp: EvaluationInput, fired: set[str], stage: str
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """First fired route (file order) with an eligible rep; the pick inside its pool is
        rules/pick.py's (weights, catch-up; equal weights pick in round robin order)."""
        handoff = self.book.stages.handoff
        if handoff is None or stage != handoff:
            why = f"stage `{stage}` is not the handoff stage `{handoff}`"
            return {"route": None, "rep_id": None, "why": why}, None
        matched = [r for r in self.book.routing.routes if r.name in fired]
        routing: dict[str, Any] = {"route": None, "rep_id": None, "why": "no route matched"}
        if matched:
            names = ", ".join(r.name for r in matched)
            routing = {
                "route": matched[0].name,
                "rep_id": None,
                "why": f"routes {names} matched but no active rep with free capacity in their "
                "pools",
            }
        skipped: dict[str, str] = {}
        seen: dict[str, tuple[str | None, datetime | None]] = {}
        starts_at = None
        for route in matched:
            pool, starts_at = self._pool(inp, route, skipped, seen)
            if pool:
                free = {rep.rep_id for rep in pool}
                chosen = pick(
                    route=route.name,
                    eligible=pool,
                    absent=[r for r in _inside(inp, route) if r.rep_id not in free],
                    policy=self._policies[route.name],
                    now=inp.now,
                )
                routing = {
                    "route": route.name,
                    "rep_id": chosen.rep_id,
                    "why": chosen.why,
                    "shares": chosen.shares,
                }
                break
        routing["why"] += self._queued(inp, starts_at, routing["rep_id"]) + _skipped(skipped)
        return routing, self._sla(inp, fired, routing["rep_id"], starts_at)

    def _pool(
        self,
        inp: EvaluationInput,
        route: Route,
        skipped: dict[str, str],
        seen: dict[str, tuple[str | None, datetime | None]],
    ) -> tuple[list[RepData], datetime | None]:
        """The route's reps with free capacity that are available at ``inp.now`` (the others go
        to ``skipped`` with the reason). When none is and the route queues, the reps available
        soonest within its bound, and when that is (the SLA clock starts then). ``seen`` keeps
        each rep's availability across the routes of one evaluation."""
        eligible = [
            rep
            for rep in inp.reps
            if rep.active
            and rep.open_handoffs < rep.capacity
            and (route.territory is None or rep.territory == route.territory)
            and (route.segment is None or route.segment in rep.segments)
        ]
        pool, away = [], []
        for rep in eligible:
            if rep.rep_id not in seen:
                cal = rep_calendar(self.book.working_time, rep)
                seen[rep.rep_id] = worktime.status(cal, inp.now)
            reason, back = seen[rep.rep_id]
            if reason is None:
                pool.append(rep)
            else:
                skipped.setdefault(rep.rep_id, f"{rep.name or rep.email or rep.rep_id} {reason}")
                away.append((back, rep))
        if pool or not away or route.queue_max_wait_hours is None:
            return pool, None
        bound = inp.now + timedelta(hours=route.queue_max_wait_hours)
        waits = [(at, rep) for at, rep in away if at is not None and at <= bound]
        if not waits:
            return [], None
        soonest = min(at for at, _ in waits)
        return [rep for at, rep in waits if at == soonest], soonest

    def _queued(self, inp: EvaluationInput, starts_at: datetime | None, rep_id: str | None) -> str:
        owner = next((r for r in inp.reps if r.rep_id == rep_id), None)
        if starts_at is None or owner is None:
            return ""
        tz = rep_calendar(self.book.working_time, owner).tz
        back = worktime.when(starts_at, tz, inp.now)
        return f"; nobody was available: queued for the rep available soonest ({back})"

    def _sla(
        self,
        inp: EvaluationInput,
        fired: set[str],
        rep_id: str | None,
        starts_at: datetime | None,
    ) -> dict[str, Any] | None:
        """The deadline: wall-clock hours, or hours of the owner's working time (business)."""
        sla = self.book.sla
        priority = next((p for p in sla.rules if p.name in fired), None)
        level = priority.priority if priority else sla.default
        if level is None or level not in sla.priorities:
            return None
        hours = sla.priorities[level]
        start = starts_at or inp.now
        clock = sla.clock(level)
        deadline = None
        owner = next((r for r in inp.reps if r.rep_id == rep_id), None)
        cal = rep_calendar(self.book.working_time, owner) if owner is not None else None
        if clock == "business" and cal is not None:
            deadline = worktime.add_working_time(cal, start, hours)
        if deadline is None:  # no owner, or no working time for years: the wall clock
            clock, deadline = "wall", start + timedelta(hours=hours)
        escalation = sla.escalation.get(level)
        return {
            "rule": priority.name if priority else None,
            "priority": level,
            "hours": hours,
            "deadline": deadline,
            "clock": clock,
            "starts_at": starts_at,
            "escalate_at": (
                escalate_at(escalation.after_hours, escalation.clock, cal, start)
                if escalation
                else None
            ),
        }


def _skipped(skipped: dict[str, str]) -> str:
    """``; unavailable: Avery Ent out of office until Mon 7 Dec 09:00 CET, …``"""
    return "; unavailable: " + ", ".join(skipped.values()) if skipped else ""


def _inside(inp: EvaluationInput, route: Route) -> list[RepData]:
    """Every rep of the route's pool, eligible now or not (the absent ones for catch-up)."""
    return [
        rep
        for rep in inp.reps
        if (route.territory is None or rep.territory == route.territory)
        and (route.segment is None or route.segment in rep.segments)
    ]


def rep_label(inp: EvaluationInput, rep_id: str | None) -> str | None:
    """How texts name a rep: the email people read (the id when the input has no email)."""
    if rep_id is None:  # no rep chosen: nothing to look up (most leads)
        return None
    rep = next((r for r in inp.reps if r.rep_id == rep_id), None)
    return (rep.email or rep.rep_id) if rep is not None else rep_id
