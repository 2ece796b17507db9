"""Targeting adjustments after they exist: revoking one, and re-scoring the leads it affects.

An adjustment changes the scores of the open leads in its scope (a segment, or a campaign's
first touches). Waiting for each lead's next activity would leave scores, stages and routing
stale for weeks, so whenever an adjustment appears, expires or is revoked, its leads are
re-evaluated in the background, in batches (api/bulk.py). ``rescored_at`` records the last
pass, so the work survives a restart and each change is applied once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction

from api.bulk import evaluate_leads
from api.engine import RulesEngine
from api.enums import EvaluationTrigger, LifecycleStage
from api.errors import Conflict, InvalidInput, NotFound
from api.locking import for_update
from api.models import DomainEvent, Lead, TargetingAdjustment

# Customers and disqualified leads are closed: a targeting change does not concern them.
CLOSED = (LifecycleStage.CUSTOMER, LifecycleStage.DISQUALIFIED)


async def revoke_adjustment(
    *, adjustment_id: int, reason: str, actor: str, now: datetime | None = None
) -> TargetingAdjustment:
    """End an adjustment early, saying who and why. Its leads are re-scored afterwards."""
    now = now or datetime.now(UTC)
    reason = reason.strip()
    if not reason:
        raise InvalidInput("revoking an adjustment needs a reason", field="reason")
    if len(reason) > 500:
        raise InvalidInput("reason has more than 500 characters", field="reason")
    async with in_transaction():
        adjustment = await for_update(TargetingAdjustment.filter(id=adjustment_id)).first()
        if adjustment is None:
            raise NotFound(f"no targeting adjustment with id {adjustment_id}", field="id")
        if adjustment.revoked_at is not None:
            raise Conflict(
                f"adjustment {adjustment_id} was already revoked by {adjustment.revoked_by}",
                field="id",
            )
        if adjustment.expires_at <= now:
            raise Conflict(
                f"adjustment {adjustment_id} expired at {adjustment.expires_at.isoformat()}",
                field="id",
                suggestion="only adjustments in force can be revoked",
            )
        adjustment.revoked_at = now
        adjustment.revoked_by = actor
        adjustment.revoke_reason = reason
        await adjustment.save(update_fields=["revoked_at", "revoked_by", "revoke_reason"])
        await DomainEvent.create(
            kind="targeting_revoked",
            payload={"id": adjustment.id, "rule": adjustment.rule, "by": actor, "why": reason},
        )
        return adjustment


def _due(now: datetime) -> Q:
    """Adjustments whose leads have not been re-scored since their last change."""
    return (
        Q(rescored_at__isnull=True)
        | Q(expires_at__lte=now, rescored_at__lt=F("expires_at"))
        | Q(revoked_at__isnull=False, rescored_at__lt=F("revoked_at"))
    )


async def affected_lead_ids(adjustments: list[TargetingAdjustment]) -> list[int]:
    """Open leads in the adjustments' scopes (segment of the account, first-touch campaign)."""
    segments = {a.scope_value for a in adjustments if a.scope_kind == "segment"}
    campaigns = {a.scope_value for a in adjustments if a.scope_kind == "campaign"}
    if not segments and not campaigns:
        return []
    scope = Q(account__segment__in=segments) | Q(first_campaign__key__in=campaigns)
    ids = await Lead.filter(scope).exclude(stage__in=CLOSED).values_list("id", flat=True)
    return sorted(set(cast(list[int], ids)))


async def rescore_adjusted(*, engine: RulesEngine, now: datetime | None = None) -> str | None:
    """Re-evaluate the leads of every adjustment that appeared, expired or was revoked since
    its last pass; one query when there is nothing to do."""
    now = now or datetime.now(UTC)
    due = await TargetingAdjustment.filter(_due(now)).order_by("id")
    if not due:
        return None
    ids = await affected_lead_ids(due)
    summary = await evaluate_leads(
        engine=engine, lead_ids=ids, trigger=EvaluationTrigger.FEEDBACK, now=now
    )
    await TargetingAdjustment.filter(id__in=[a.id for a in due]).update(rescored_at=now)
    return f"{len(due)} adjustments changed: {summary.evaluated} leads re-scored"
