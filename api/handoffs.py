"""Sales acts on handoffs: accept, reject with a reason, and SLA breaches become events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tortoise.transactions import in_transaction

from api.engine import RulesEngine
from api.enums import FeedbackKind, HandoffStatus, LifecycleStage
from api.errors import Conflict, NotFound, PermissionDenied
from api.feedback import record_feedback
from api.locking import for_update
from api.models import DomainEvent, Handoff, Lead
from api.stage_moves import move_lead

OPEN = (HandoffStatus.PENDING, HandoffStatus.EXPIRED)


async def _open_handoff(handoff_id: int, rep_id: int | None) -> tuple[Handoff, Lead]:
    """The handoff and its lead, locked. A key bound to a rep may only act on its own."""
    handoff = await for_update(Handoff.filter(id=handoff_id)).first()
    if handoff is None:
        raise NotFound(f"no handoff with id {handoff_id}", field="handoffId")
    if rep_id is not None and handoff.owner_id != rep_id:  # type: ignore[attr-defined]
        raise PermissionDenied(
            f"handoff {handoff_id} belongs to another rep",
            field="handoffId",
            suggestion="a rep's key can only decide that rep's handoffs",
        )
    if handoff.status not in OPEN:
        raise Conflict(
            f"handoff {handoff_id} was already {handoff.status}",
            field="handoffId",
            suggestion="only pending or expired handoffs can be accepted or rejected",
        )
    lead = await for_update(Lead.filter(id=handoff.lead_id)).get()  # type: ignore[attr-defined]
    return handoff, lead


async def accept_handoff(
    *, handoff_id: int, actor: str, rep_id: int | None = None, now: datetime | None = None
) -> Handoff:
    """The owner takes the lead: handoff accepted, lead sales-accepted (SAL)."""
    now = now or datetime.now(UTC)
    async with in_transaction():
        handoff, lead = await _open_handoff(handoff_id, rep_id)
        await move_lead(lead, LifecycleStage.SAL, reason="handoff accepted", actor=actor, now=now)
        before = handoff.status
        handoff.status = HandoffStatus.ACCEPTED
        handoff.decided_at = now
        await handoff.save(update_fields=["status", "decided_at"])
        await DomainEvent.create(**_decided_event(handoff, before))
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
        before = handoff.status
        handoff.status = HandoffStatus.REJECTED
        handoff.reason_code = reason
        handoff.note = note  # type: ignore[assignment]  # tortoise types TextField as str
        handoff.decided_at = now
        await handoff.save(update_fields=["status", "reason_code", "note", "decided_at"])
        await DomainEvent.create(**_decided_event(handoff, before))
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


async def expire_overdue(*, now: datetime | None = None) -> int:
    """Mark pending handoffs past their deadline as expired, one event each. Idempotent."""
    now = now or datetime.now(UTC)
    async with in_transaction():
        overdue = await for_update(
            Handoff.filter(status=HandoffStatus.PENDING, sla_deadline__lt=now)
        ).values_list("id", "owner_id", "lead_id", "sla_deadline")
        if not overdue:
            return 0
        await Handoff.filter(id__in=[row[0] for row in overdue]).update(
            status=HandoffStatus.EXPIRED, breached_at=now
        )
        await DomainEvent.bulk_create(
            [
                DomainEvent(
                    kind="sla_breached",
                    subject_id=owner_id,
                    payload={"handoff": hid, "lead": lead_id, "deadline": deadline.isoformat()},
                )
                for hid, owner_id, lead_id, deadline in overdue
            ]
        )
        return len(overdue)
