"""The demo after a handoff is accepted: SQL, opportunity, the deal's stages and its close,
or the lead sent back to nurture on the way."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from api.demo import catalogue as cat
from api.demo.draft import Draft, Journey, Row, weighted
from api.enums import DealStage, FeedbackKind, LifecycleStage


def sales(
    d: Draft, j: Journey, account: int, segment: str, rep: int, actor: str, accepted: datetime
) -> None:
    """The accepted lead becomes an SQL and an opportunity with a deal, unless sales drops it."""
    rng, f, end = d.rng, j.fit, d.end
    sql_at = d.after(accepted, days=2 + rng.expovariate(1 / 5))
    if sql_at >= end:
        return
    if rng.random() > 0.6 + 0.25 * f:
        reasons = ("no_budget", "bad_timing", "wrong_persona", "too_small")
        _drop(d, j, d.after(accepted, days=rng.uniform(3, 20)), segment, rep, actor, reasons)
        return
    d.move(j, LifecycleStage.SQL, sql_at, reason="qualified on discovery call", actor=actor)
    opp_at = d.after(sql_at, days=2 + rng.expovariate(1 / 5))
    if opp_at >= end:
        return
    if rng.random() > 0.55 + 0.2 * f:
        codes = ("no_budget", "bad_timing", "competitor")
        _drop(d, j, d.after(sql_at, days=rng.uniform(3, 15)), segment, rep, actor, codes)
        return
    d.move(j, LifecycleStage.OPPORTUNITY, opp_at, reason="deal created", actor=actor)
    _deal(d, j, account, segment, rep, actor, opp_at)


def _drop(
    d: Draft, j: Journey, at: datetime, segment: str, rep: int, actor: str, codes: tuple[str, ...]
) -> None:
    """Sales sends the lead back to nurture (or out) and tells marketing why."""
    if at >= d.end:
        return
    code = d.rng.choice(codes)
    recycle = code in ("no_budget", "bad_timing") or d.rng.random() < 0.3
    to = LifecycleStage.RECYCLED if recycle else LifecycleStage.DISQUALIFIED
    kind = FeedbackKind.RECYCLED if recycle else FeedbackKind.DISQUALIFIED
    d.feedback(j, kind, at, reason=code, segment=segment, rep=rep)
    d.move(j, to, at, reason=f"{to}: {code}", actor=actor)
    if recycle:
        j.owner = None


def _deal(
    d: Draft, j: Journey, account: int, segment: str, rep: int, actor: str, opened: datetime
) -> None:
    rng, f, end = d.rng, j.fit, d.end
    plan_name, low, high = cat.PLANS[segment]
    firm = d.plan.account[account].fields
    rep_email = str(d.plan.sales_rep[rep].fields["email"])
    fields: dict[str, Any] = {
        "name": f"{firm['name']} - {plan_name}",
        "stage": DealStage.DISCOVERY,
        "amount": Decimal(round(rng.uniform(low, high), -2)).quantize(Decimal("0.01")),
        "currency": "USD",
        "expected_close_on": (opened + timedelta(days=rng.randint(30, 100))).date(),
        "closed_at": None,
        "close_reason": None,
        "created_at": opened,
        "version": 1,
    }
    deal = len(d.plan.deal)
    d.plan.deal.append(
        Row(
            fields,
            {
                "account_id": ("account", account),
                "lead_id": ("lead", j.lead),
                "owner_id": ("sales_rep", rep),
            },
        )
    )

    def step(to: DealStage, at: datetime) -> None:
        d.plan.deal_stage_change.append(
            Row(
                {
                    "from_stage": fields["stage"] if to != DealStage.DISCOVERY else None,
                    "to_stage": to,
                    "changed_by": rep_email,
                    "changed_at": at,
                },
                {"deal_id": ("deal", deal)},
            )
        )
        fields["stage"] = to
        fields["version"] += int(to != DealStage.DISCOVERY)
        fields["updated_at"] = at

    step(DealStage.DISCOVERY, opened)
    at, won = opened, False
    for to in (DealStage.DEMO, DealStage.PROPOSAL, DealStage.NEGOTIATION):
        at = d.after(at, days=rng.uniform(4, 20))
        if at >= end:
            return
        if rng.random() < 0.2:
            break  # lost before reaching the next stage
        step(to, at)
    else:
        at = d.after(at, days=rng.uniform(4, 20))
        if at >= end:
            return
        won = rng.random() < 0.55 + 0.25 * f
    reasons = cat.WON_REASONS if won else cat.LOST_REASONS
    reason = weighted(rng, reasons)
    step(DealStage.CLOSED_WON if won else DealStage.CLOSED_LOST, at)
    fields.update(closed_at=at, close_reason=reason)
    kind = FeedbackKind.WON if won else FeedbackKind.LOST
    d.feedback(j, kind, at, reason=reason, segment=segment, rep=rep, deal=True)
    if won:
        d.move(j, LifecycleStage.CUSTOMER, at, reason="deal won", actor="system")
        first = d.account_won.get(account)
        d.account_won[account] = at if first is None else min(first, at)
        j.milestones.append((d.after(at, days=rng.uniform(1, 10)), "page_view"))
    else:
        later = d.after(at, days=rng.uniform(0.5, 5))
        if later < end:
            d.move(
                j,
                LifecycleStage.RECYCLED,
                later,
                reason=f"recycled: lost to {reason}",
                actor=actor,
            )
            j.owner = None
