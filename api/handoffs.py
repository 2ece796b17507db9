"""Sales acts on handoffs: accept, reject with a reason, and SLA breaches become events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tortoise.expressions import Q
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from api.engine import RulesEngine
from api.enums import FeedbackKind, HandoffStatus, LifecycleStage
from api.errors import Conflict, HandoffReassigned, NotFound, PermissionDenied
from api.feedback import record_feedback
from api.locking import for_update
from api.models import DomainEvent, Handoff, HandoffStep, Lead
from api.stage_moves import move_lead

OPEN = (HandoffStatus.PENDING, HandoffStatus.EXPIRED)


def shown_status(handoff: Handoff, now: datetime) -> HandoffStatus:
    """What a reader sees: a pending handoff past its deadline is expired, even before the
    SLA job (api/periodic.py) has written the breach. Reads never write."""
    if handoff.status == HandoffStatus.PENDING and handoff.sla_deadline < now:
        return HandoffStatus.EXPIRED
    return HandoffStatus(handoff.status)


def with_shown_status(
    query: QuerySet[Handoff], status: HandoffStatus, now: datetime
) -> QuerySet[Handoff]:
    """Filter by ``shown_status`` in SQL."""
    if status == HandoffStatus.PENDING:
        return query.filter(status=HandoffStatus.PENDING, sla_deadline__gte=now)
    if status == HandoffStatus.EXPIRED:
        return query.filter(
            Q(status=HandoffStatus.EXPIRED) | Q(status=HandoffStatus.PENDING, sla_deadline__lt=now)
        )
    return query.filter(status=status)


async def _open_handoff(handoff_id: int, rep_id: int | None) -> tuple[Handoff, Lead]:
    """The handoff and its lead, locked. A key bound to a rep may only act on its own."""
    handoff = await for_update(Handoff.filter(id=handoff_id)).first()
    if handoff is None:
        raise NotFound(f"no handoff with id {handoff_id}", field="handoffId")
    if rep_id is not None and (
        handoff.owner_id != rep_id or handoff.status == HandoffStatus.QUEUED  # type: ignore[attr-defined]
    ):
        await _not_yours(handoff, rep_id)
    if handoff.status == HandoffStatus.QUEUED:
        raise Conflict(
            f"handoff {handoff_id} waits in queue {handoff.queue}",
            field="handoffId",
            suggestion="a rep claims a queued handoff by accepting it with their own key",
        )
    if handoff.status not in OPEN:
        raise Conflict(
            f"handoff {handoff_id} was already {handoff.status}",
            field="handoffId",
            suggestion="only pending or expired handoffs can be accepted or rejected",
        )
    lead = await for_update(Lead.filter(id=handoff.lead_id)).get()  # type: ignore[attr-defined]
    return handoff, lead


async def left_to_service(handoff_id: int, rep_id: int) -> bool:
    """A rep-bound key on a handoff it does not own that the service answers itself: one in a
    fallback queue (the rep claims it) or one escalation took from this rep (a clear error)."""
    queued = await Handoff.filter(id=handoff_id, status=HandoffStatus.QUEUED).exists()
    return queued or await HandoffStep.filter(handoff_id=handoff_id, rep_id=rep_id).exists()


async def _not_yours(handoff: Handoff, rep_id: int) -> None:
    """A rep-bound key on a handoff it does not own: taken by escalation, or never theirs.
    A queued handoff is claimed by the first rep who was not in its chain."""
    last = await HandoffStep.filter(handoff_id=handoff.id, rep_id=rep_id).order_by("-step").first()
    if last is not None:
        moved = (
            await HandoffStep.filter(handoff_id=handoff.id, step__gt=last.step)
            .order_by("step")
            .first()
        )
        where = f"queue {moved.queue}" if moved and moved.queue else "another rep"
        raise HandoffReassigned(
            f"handoff {handoff.id} was re-assigned to {where} at "
            f"{moved.at.isoformat() if moved else 'an earlier time'}: "
            f"{moved.reason if moved else 'escalated'}",
            field="handoffId",
            suggestion="a handoff that escalation moved on can only be decided by its new owner",
        )
    if handoff.status == HandoffStatus.QUEUED:
        handoff.owner_id = rep_id
        handoff.status = HandoffStatus.PENDING
        handoff.queue = None
        number = await HandoffStep.filter(handoff_id=handoff.id).count()
        await HandoffStep.create(
            handoff_id=handoff.id,
            step=number,
            kind="claimed",
            rep_id=rep_id,
            reason="claimed from the fallback queue",
            at=datetime.now(UTC),
        )
        await handoff.save(update_fields=["owner_id", "status", "queue"])
        await Lead.filter(id=handoff.lead_id).update(owner_id=rep_id)  # type: ignore[attr-defined]
        return
    raise PermissionDenied(
        f"handoff {handoff.id} belongs to another rep",
        field="handoffId",
        suggestion="a rep's key can only decide that rep's handoffs",
    )


async def _decide(handoff: Handoff, status: HandoffStatus, now: datetime, *fields: str) -> None:
    """Save the decision. A decision after the deadline that the SLA job has not seen yet
    keeps the breach on record (breached_at and its one event), as the job would have."""
    before = handoff.status
    handoff.status = status
    handoff.decided_at = now
    extra: list[str] = []
    if handoff.breached_at is None and handoff.sla_deadline < now:
        handoff.breached_at = now
        extra.append("breached_at")
        await DomainEvent.create(**breach_event(handoff))
    await handoff.save(update_fields=["status", "decided_at", *fields, *extra])
    await DomainEvent.create(**_decided_event(handoff, before))


def breach_event(handoff: Handoff) -> dict[str, Any]:
    return {
        "kind": "sla_breached",
        "subject_id": handoff.owner_id,  # type: ignore[attr-defined]
        "payload": {
            "handoff": handoff.id,
            "lead": handoff.lead_id,  # type: ignore[attr-defined]
            "deadline": handoff.sla_deadline.isoformat(),
        },
    }


async def accept_handoff(
    *, handoff_id: int, actor: str, rep_id: int | None = None, now: datetime | None = None
) -> Handoff:
    """The owner takes the lead: handoff accepted, lead sales-accepted (SAL)."""
    now = now or datetime.now(UTC)
    async with in_transaction():
        handoff, lead = await _open_handoff(handoff_id, rep_id)
        await move_lead(lead, LifecycleStage.SAL, reason="handoff accepted", actor=actor, now=now)
        await _decide(handoff, HandoffStatus.ACCEPTED, now)
        return handoff


async def reject_handoff(
    *,
    engine: RulesEngine,
    handoff_id: int,
    reason: str,
    note: str | None,
    actor: str,
    rep_id: int | None = None,
    now: datetime | None = None,
) -> Handoff:
    """Sales says no, with a reason code from the rulebook: the lead goes back to nurture
    (recycled) and the feedback feeds the targeting rules."""
    now = now or datetime.now(UTC)
    engine.check_reason("reject", reason, field="reason")
    async with in_transaction():
        handoff, lead = await _open_handoff(handoff_id, rep_id)
        await move_lead(
            lead, LifecycleStage.RECYCLED, reason=reason, actor=actor, now=now, clear_owner=True
        )
        handoff.reason_code = reason
        handoff.note = note  # type: ignore[assignment]  # tortoise types TextField as str
        await _decide(handoff, HandoffStatus.REJECTED, now, "reason_code", "note")
        await record_feedback(
            engine=engine,
            kind=FeedbackKind.REJECTED,
            reason=reason,
            note=note,
            lead=lead,
            handoff_id=handoff.id,
            rep_id=handoff.owner_id,  # type: ignore[attr-defined]
            now=now,
        )
        return handoff


def _decided_event(handoff: Handoff, before: HandoffStatus) -> dict[str, Any]:
    """The outbox row for a sales decision: webhooks send handoff.accepted / .rejected."""
    return {
        "kind": "handoff_decided",
        "subject_id": handoff.owner_id,  # type: ignore[attr-defined]
        "payload": {
            "handoff": handoff.id,
            "lead": handoff.lead_id,  # type: ignore[attr-defined]
            "owner": handoff.owner_id,  # type: ignore[attr-defined]
            "from": before.value,
            "to": handoff.status.value,
            "reason": handoff.reason_code,
        },
    }


async def expire_overdue(*, now: datetime | None = None, batch: int = 500) -> int:
    """Mark pending handoffs past their deadline as expired, one breach event each.

    The rows are locked (a model query: tortoise drops FOR UPDATE from ``values_list``) and
    rows a decision is holding are skipped, so an accept or reject that is under way wins and
    two concurrent runs never write the same breach twice. The UPDATE re-checks the status.
    """
    now = now or datetime.now(UTC)
    total = 0
    while True:
        async with in_transaction():
            overdue = await for_update(
                Handoff.filter(status=HandoffStatus.PENDING, sla_deadline__lt=now)
                .order_by("id")
                .limit(batch),
                skip_locked=True,
            )
            if not overdue:
                return total
            changed = await Handoff.filter(
                id__in=[h.id for h in overdue], status=HandoffStatus.PENDING
            ).update(status=HandoffStatus.EXPIRED, breached_at=now)
            if changed != len(overdue):  # cannot happen while we hold the locks
                raise RuntimeError("handoffs changed under their row locks")
            await DomainEvent.bulk_create([DomainEvent(**breach_event(h)) for h in overdue])
        total += len(overdue)
        if len(overdue) < batch:
            return total
