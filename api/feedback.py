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
    account_id: int | None = None,
    campaign_id: int | None = None,
) -> Feedback:
    """Store one piece of feedback and let the feedback rules react, in the caller's transaction.

    The segment is the account's: the one given (a deal or a churn without a lead), else the
    lead's. The campaign is the lead's first touch unless the caller names one.
    """
    if lead is not None:
        account_id = account_id or lead.account_id  # type: ignore[attr-defined]
        campaign_id = campaign_id or lead.first_campaign_id  # type: ignore[attr-defined]
    segment = None
    if account_id is not None:
        account = await Account.get_or_none(id=account_id)
        segment = account.segment if account else None
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
    used = await _used_evidence({p.rule for p in proposed})
    at_least = {r.name: r.at_least for r in engine.rulebook.feedback}
    fresh = []
    for p in proposed:
        if (p.rule, p.scope, p.scope_value) in active:
            continue
        # Evidence used once is used once: feedback that caused an earlier adjustment of this
        # rule and scope (expired or revoked since) cannot cause another one.
        spent = used.get((p.rule, p.scope, p.scope_value), set())
        causes = [int(i) for i in p.caused_by if int(i) not in spent]
        if len(causes) < at_least.get(p.rule, 1):
            continue
        fresh.append(
            TargetingAdjustment(
                rule=p.rule,
                score=p.score,
                delta=p.delta,
                scope_kind=p.scope,
                scope_value=p.scope_value,
                reason=f"{len(causes)} feedback events matched rule {p.rule}",
                caused_by=causes,
                rulebook_version=engine.version,
                starts_at=p.starts_at,
                expires_at=p.expires_at,
            )
        )
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


async def _used_evidence(rules: set[str]) -> dict[tuple[str, str, str], set[int]]:
    """Feedback ids each (rule, scope kind, scope value) already turned into an adjustment."""
    rows = await TargetingAdjustment.filter(rule__in=rules).values_list(
        "rule", "scope_kind", "scope_value", "caused_by"
    )
    used: dict[tuple[str, str, str], set[int]] = {}
    for rule, kind, value, caused in rows:
        used.setdefault((str(rule), str(kind), str(value)), set()).update(int(i) for i in caused)
    return used


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
