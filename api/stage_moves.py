"""Moving a lead by hand (sales decisions, deals): the guard, the history row and the lead."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from api.enums import LifecycleStage
from api.lifecycle import check_transition
from api.models import DomainEvent, Lead, LeadStageChange


async def move_lead(
    lead: Lead,
    target: LifecycleStage,
    *,
    reason: str | None,
    actor: str,
    now: datetime,
    clear_owner: bool = False,
) -> None:
    """Check the move, record it with when the lead entered the stage it leaves, apply it.

    The caller holds the lead's row lock and the transaction.
    """
    check_transition(lead.stage, target, reason=reason)
    await LeadStageChange.create(
        lead_id=lead.id,
        from_stage=lead.stage,
        to_stage=target,
        reason=reason,
        actor=actor,
        entered_from_at=lead.stage_entered_at or lead.created_at,
        changed_at=now,
    )
    await DomainEvent.create(
        **stage_changed_event(
            lead.id,
            lead.stage,
            target,
            reason=reason,
            actor=actor,
            owner=lead.owner_id,  # type: ignore[attr-defined]
        )
    )
    lead.stage = target
    lead.stage_entered_at = now
    lead.version += 1
    fields = ["stage", "stage_entered_at", "version", "updated_at"]
    if clear_owner:
        lead.owner_id = None
        fields.append("owner_id")
    await lead.save(update_fields=fields)


def stage_changed_event(
    lead_id: int,
    from_stage: LifecycleStage,
    to_stage: LifecycleStage,
    *,
    reason: str | None,
    actor: str,
    owner: int | None,
) -> dict[str, Any]:
    """The outbox row for a lead's stage move: webhooks send it as lead.stage_changed."""
    return {
        "kind": "lead_stage_changed",
        "subject_id": lead_id,
        "payload": {
            "lead": lead_id,
            "from": from_stage.value,
            "to": to_stage.value,
            "reason": reason,
            "actor": actor,
            "owner": owner,
        },
    }
