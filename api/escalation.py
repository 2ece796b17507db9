"""Handoffs nobody accepts in time go to the next rep of the same route, then to a fallback.

The rulebook's ``sla.escalation`` says, per priority, after how long an unaccepted handoff is
re-assigned (``after``), how many times (``times``), and where it goes then (a manager rep by
email, or a named queue). The SLA deadline stays the one set at the first assignment, so the
SLA metric counts the whole chain. Each owner change is a ``HandoffStep`` with its reason and a
``handoff_escalated`` outbox event (subscriptions and webhooks show it). Run on the SLA clock
(api/periodic.py); rows are locked and written in batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tortoise.transactions import in_transaction

from api.bulk import RepBook
from api.enums import HandoffStatus
from api.facts import reps_now
from api.handoffs import breach_event
from api.locking import for_update
from api.models import DomainEvent, Handoff, HandoffStep, Lead, SalesRep
from api.shares import next_step_numbers, save_shares
from rules import worktime
from rules.calendars import rep_calendar
from rules.escalation import escalate_at
from rules.pick import pick, route_policy
from rules.rulebook import Escalation, Route, Rulebook

OPEN = (HandoffStatus.PENDING, HandoffStatus.EXPIRED)
FALLBACK_QUEUE = "escalation"
"""Where a handoff goes when its fallback rep does not exist (any more)."""


@dataclass
class _Tick:
    """What one batch writes, collected first so the writes are a few statements."""

    now: datetime
    reps: RepBook
    numbers: dict[int, int]
    steps: list[HandoffStep] = field(default_factory=list)
    events: list[DomainEvent] = field(default_factory=list)
    handoffs: list[Handoff] = field(default_factory=list)
    leads: dict[int, Lead] = field(default_factory=dict)
    moved: dict[int, Lead] = field(default_factory=dict)
    owners: set[int] = field(default_factory=set)

    def step(
        self, handoff: Handoff, kind: str, rep_id: int | None, reason: str, previous: int
    ) -> None:
        number = self.numbers.get(handoff.id, 0)
        self.numbers[handoff.id] = number + 1
        self.steps.append(
            HandoffStep(
                handoff_id=handoff.id,
                step=number,
                kind=kind,
                rep_id=rep_id,
                queue=handoff.queue if kind == "queued" else None,
                reason=reason,
                at=self.now,
            )
        )
        payload: dict[str, Any] = {
            "handoff": handoff.id,
            "lead": handoff.lead_id,  # type: ignore[attr-defined]
            "from": previous,
            "to": rep_id,
            "queue": handoff.queue if kind == "queued" else None,
            "step": number,
            "kind": kind,
            "reason": reason,
        }
        subject = rep_id if rep_id is not None else previous
        self.events.append(
            DomainEvent(kind="handoff_escalated", subject_id=subject, payload=payload)
        )


async def escalate_due(*, book: Rulebook, now: datetime | None = None, batch: int = 200) -> int:
    """Escalate every open handoff whose ``escalate_at`` passed; returns the steps taken."""
    now = now or datetime.now(UTC)
    total = 0
    while True:
        async with in_transaction():
            due = await for_update(
                Handoff.filter(status__in=OPEN, escalate_at__lte=now)
                .order_by("escalate_at", "id")
                .limit(batch),
                skip_locked=True,
            )
            if not due:
                return total
            total += await _escalate(book, due, now)
        if len(due) < batch:
            return total


async def _escalate(book: Rulebook, due: Sequence[Handoff], now: datetime) -> int:
    ids = [h.id for h in due]
    tick = _Tick(now=now, reps=RepBook(await reps_now(now), now), numbers={})
    tick.numbers = await next_step_numbers(ids)
    went: dict[int, set[str]] = {}
    for handoff_id, rep_id in await HandoffStep.filter(handoff_id__in=ids).values_list(
        "handoff_id", "rep_id"
    ):
        if rep_id is not None:
            went.setdefault(int(handoff_id), set()).add(str(rep_id))
    lead_ids = [h.lead_id for h in due]  # type: ignore[attr-defined]
    tick.leads = {lead.id: lead for lead in await for_update(Lead.filter(id__in=lead_ids))}
    managers = {
        r.email: r
        for r in await SalesRep.filter(
            email__in=[e.then_rep for e in book.sla.escalation.values() if e.then_rep]
        )
    }
    routes = {r.name: r for r in book.routing.routes}
    for handoff in due:
        rule = book.sla.escalation.get(handoff.priority)
        if rule is None:  # the active rulebook no longer escalates this priority
            handoff.escalate_at = None
            tick.handoffs.append(handoff)
            continue
        owner = str(handoff.owner_id)  # type: ignore[attr-defined]
        seen = went.setdefault(handoff.id, set()) | {owner}
        route = routes.get(handoff.route or "")
        why_late = (
            f"not accepted within {rule.after_hours:g} h ({rule.clock} clock) by "
            f"{_email(tick.reps, owner)}"
        )
        if handoff.escalations < rule.times and route is not None:
            chosen = _next_rep(book, tick.reps, route, seen, now)
            if chosen is not None:
                rep_id, why = chosen
                handoff.escalations += 1
                owner_data = next(r for r in tick.reps.current() if r.rep_id == rep_id)
                cal = rep_calendar(book.working_time, owner_data)
                handoff.escalate_at = escalate_at(rule.after_hours, rule.clock, cal, now)
                _reassign(tick, handoff, int(rep_id))
                tick.step(
                    handoff,
                    "escalated",
                    int(rep_id),
                    f"escalation {handoff.escalations} of {rule.times}: {why_late}; {why}",
                    int(owner),
                )
                went[handoff.id].add(rep_id)
                continue
            why_late += f"; no other free rep in route {route.name}"
        _fallback(tick, handoff, rule, managers, why_late, int(owner))
    await _write(tick)
    return len(tick.steps)


def _email(reps: RepBook, rep_id: str) -> str:
    rep = next((r for r in reps.current() if r.rep_id == rep_id), None)
    return (rep.email or rep_id) if rep is not None else rep_id


def _next_rep(
    book: Rulebook, reps: RepBook, route: Route, seen: set[str], now: datetime
) -> tuple[str, str] | None:
    """The route's pick among its free, available reps the handoff has not been with yet."""
    inside = [
        r
        for r in reps.current()
        if r.rep_id not in seen
        and (route.territory is None or r.territory == route.territory)
        and (route.segment is None or route.segment in r.segments)
    ]
    free = [
        r
        for r in inside
        if r.active
        and r.open_handoffs < r.capacity
        and worktime.available(rep_calendar(book.working_time, r), now)
    ]
    if not free:
        return None
    names = {r.rep_id for r in free}
    chosen = pick(
        route=route.name,
        eligible=free,
        absent=[r for r in inside if r.rep_id not in names],
        policy=route_policy(route),
        now=now,
    )
    reps.assigned(chosen.rep_id, chosen.shares)
    return chosen.rep_id, chosen.why


def _reassign(tick: _Tick, handoff: Handoff, rep_id: int) -> None:
    handoff.owner_id = rep_id
    lead = tick.leads.get(handoff.lead_id)  # type: ignore[attr-defined]
    if lead is not None:
        lead.owner_id = rep_id
        lead.version += 1
        tick.moved[lead.id] = lead
    tick.owners.add(rep_id)
    tick.handoffs.append(handoff)


def _fallback(
    tick: _Tick,
    handoff: Handoff,
    rule: Escalation,
    managers: dict[str, SalesRep],
    why_late: str,
    previous: int,
) -> None:
    handoff.escalate_at = None
    manager = managers.get(rule.then_rep) if rule.then_rep else None
    if manager is not None:
        _reassign(tick, handoff, manager.id)
        reason = f"{why_late}; fallback rep {manager.email}"
        tick.step(handoff, "fallback", manager.id, reason, previous)
        return
    if handoff.breached_at is None and handoff.sla_deadline < tick.now:
        # leaving the SLA clock unseen by the SLA job: keep the breach on record, as it would
        handoff.breached_at = tick.now
        tick.events.append(DomainEvent(**breach_event(handoff)))
    handoff.status = HandoffStatus.QUEUED
    handoff.queue = rule.then_queue or FALLBACK_QUEUE
    missing = f" (fallback rep {rule.then_rep} not found)" if rule.then_rep else ""
    lead = tick.leads.get(handoff.lead_id)  # type: ignore[attr-defined]
    if lead is not None:
        lead.owner_id = None
        lead.version += 1
        tick.moved[lead.id] = lead
    tick.handoffs.append(handoff)
    reason = f"{why_late}; fallback queue {handoff.queue}{missing}"
    tick.step(handoff, "queued", None, reason, previous)


async def _write(tick: _Tick) -> None:
    """A fixed number of statements per batch, whatever its size."""
    if tick.handoffs:
        await Handoff.bulk_update(
            tick.handoffs,
            fields=["owner_id", "escalate_at", "escalations", "status", "queue", "breached_at"],
        )
    if tick.moved:
        await Lead.bulk_update(list(tick.moved.values()), fields=["owner_id", "version"])
    if tick.owners:
        await SalesRep.filter(id__in=list(tick.owners)).update(last_assigned_at=tick.now)
    if tick.steps:
        await HandoffStep.bulk_create(tick.steps)
    if tick.events:
        await DomainEvent.bulk_create(tick.events)
    await save_shares(tick.reps.changed_shares())
