"""Sales feedback (rejections, disqualifications, recycles, won/lost deals) and the targeting
adjustments that the rulebook's feedback rules derive from it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tortoise.transactions import in_transaction

from api.engine import RulesEngine
from api.enums import FeedbackKind, HandoffStatus, LifecycleStage
from api.errors import NotFound
from api.lifecycle import check_version
from api.locking import for_update
from api.models import (
    Account,
    Campaign,
    DomainEvent,
    Feedback,
    Handoff,
    Lead,
    TargetingAdjustment,
)
from api.stage_moves import move_lead
from rules import FeedbackEvent


async def record_feedback(
    *,
    engine: RulesEngine,
    kind: FeedbackKind,
    reason: str | None,
    note: str | None,
    lead: Lead | None,
    now: datetime,
    handoff_id: int | None = None,
    deal_id: int | None = None,
    rep_id: int | None = None,
) -> Feedback:
    """Store one piece of feedback and let the feedback rules react, in the caller's transaction."""
    segment = None
    campaign_id = None
    if lead is not None:
        if lead.account_id:  # type: ignore[attr-defined]
            account = await Account.get(id=lead.account_id)  # type: ignore[attr-defined]
            segment = account.segment
        campaign_id = lead.first_campaign_id  # type: ignore[attr-defined]
    feedback = await Feedback.create(
        kind=kind,
        reason_code=reason,
        note=note,
        segment=segment,
        lead_id=lead.id if lead else None,
        handoff_id=handoff_id,
        deal_id=deal_id,
        campaign_id=campaign_id,
        rep_id=rep_id,
    )
    # The row's own timestamp is set by the database clock after ``now`` was taken: judge the
    # pattern as of the later of the two, or the newest feedback would look like the future.
    await apply_feedback_rules(engine=engine, now=max(now, feedback.created_at))
    return feedback


async def apply_feedback_rules(*, engine: RulesEngine, now: datetime) -> list[TargetingAdjustment]:
    """Run the feedback rules over the feedback inside their longest window; store the
    adjustments they produce unless the same rule already has one active for that scope."""
    since = now - timedelta(days=engine.feedback_window_days)
    rows = await Feedback.filter(created_at__gte=since).order_by("id")
    if not rows:
        return []
    keys: dict[int, str] = dict(
        await Campaign.filter(id__in={r.campaign_id for r in rows if r.campaign_id}).values_list(  # type: ignore[attr-defined]
            "id", "key"
        )
    )
    events = [
        FeedbackEvent(
            feedback_id=str(r.id),
            type=r.kind.value,
            reason=r.reason_code,
            segment=r.segment,
            campaign=keys.get(r.campaign_id),  # type: ignore[attr-defined]
            occurred_at=r.created_at,
        )
        for r in rows
    ]
    proposed = await engine.evaluate_feedback(events, now)
    if not proposed:
        return []
    active = set(
        await TargetingAdjustment.filter(expires_at__gt=now, revoked_at__isnull=True).values_list(
            "rule", "scope_kind", "scope_value"
        )
    )
    fresh = [
        TargetingAdjustment(
            rule=p.rule,
            score=p.score,
            delta=p.delta,
            scope_kind=p.scope,
            scope_value=p.scope_value,
            reason=f"{len(p.caused_by)} feedback events matched rule {p.rule}",
            caused_by=[int(i) for i in p.caused_by],
            rulebook_version=engine.version,
            starts_at=p.starts_at,
            expires_at=p.expires_at,
        )
        for p in proposed
        if (p.rule, p.scope, p.scope_value) not in active
    ]
    if fresh:
        await TargetingAdjustment.bulk_create(fresh)
        await DomainEvent.bulk_create(
            [
                DomainEvent(
                    kind="targeting_adjusted",
                    payload={"rule": a.rule, "scope": a.scope_kind, "value": a.scope_value},
                )
                for a in fresh
            ]
        )
    return fresh


async def change_lead_stage(
    *,
    engine: RulesEngine,
    lead_id: int,
    target: LifecycleStage,
    reason: str,
    note: str | None,
    actor: str,
    rep_id: int | None = None,
    expected_version: int | None = None,
    now: datetime | None = None,
) -> Lead:
    """Recycle or disqualify a lead by hand (reason codes from the rulebook). An open handoff
    is closed as rejected with the same reason, and the feedback rules see it."""
    now = now or datetime.now(UTC)
    kind = FeedbackKind.RECYCLED if target == LifecycleStage.RECYCLED else FeedbackKind.DISQUALIFIED
    engine.check_reason("recycle" if kind == FeedbackKind.RECYCLED else "disqualify", reason)
    async with in_transaction():
        lead = await for_update(Lead.filter(id=lead_id)).first()
        if lead is None:
            raise NotFound(f"no lead with id {lead_id}", field="leadId")
        check_version(current=lead.version, expected=expected_version, what=f"lead {lead_id}")
        await move_lead(lead, target, reason=reason, actor=actor, now=now, clear_owner=True)
        await Handoff.filter(
            lead_id=lead.id, status__in=[HandoffStatus.PENDING, HandoffStatus.EXPIRED]
        ).update(status=HandoffStatus.REJECTED, reason_code=reason, note=note, decided_at=now)
        await record_feedback(
            engine=engine, kind=kind, reason=reason, note=note, lead=lead, rep_id=rep_id, now=now
        )
        return lead
