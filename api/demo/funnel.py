"""The demo's funnel: one lead from creation through engagement, MQL and the handoff to a rep,
who accepts (and sales takes over, sales.py), rejects, or lets the SLA lapse."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from api.demo import catalogue as cat
from api.demo.draft import HISTORY_DAYS, Draft, Journey, Row
from api.demo.sales import sales
from api.enums import FeedbackKind, HandoffStatus, LifecycleStage

SLA_HOURS = {"high": 24, "normal": 72}


def walk(
    d: Draft,
    j: Journey,
    account: int | None,
    segment: str | None,
    seniority: str,
    country: str,
) -> None:
    """Walk one lead down the funnel until it stalls, drops out or reaches the anchor."""
    rng, f, end = d.rng, j.fit, d.end
    if rng.random() < 0.03:
        at = d.after(j.created_at, hours=rng.uniform(0.1, 48))
        if at < end:
            code = rng.choice(cat.MARKETING_DISQUALIFY)
            d.move(
                j,
                LifecycleStage.DISQUALIFIED,
                at,
                reason=f"disqualified: {code}",
                actor="rules",
            )
        return
    engaged_at = d.after(j.created_at, days=0.3 + rng.expovariate(1 / 3))
    if rng.random() > 0.4 + 0.35 * f or engaged_at >= end:
        return
    d.move(j, LifecycleStage.ENGAGED, engaged_at, reason="engagement threshold", actor="rules")
    # The activity that tipped the lead over lands just before the move it caused.
    tipping = engaged_at - timedelta(seconds=2)
    j.milestones.append((tipping, rng.choice(("email_click", "content_download"))))
    mql_at = d.after(engaged_at, days=2 + rng.expovariate(1 / 10))
    if rng.random() > 0.08 + 0.5 * f or mql_at >= end:
        return
    d.move(j, LifecycleStage.MQL, mql_at, reason="fit and engagement met", actor="rules")
    j.mql_at = mql_at
    keystone = rng.choices(
        ("demo_request", "trial_signup", "pricing_page_view", "webinar_attended"),
        weights=(55, 25, 10, 10),
    )[0]
    j.milestones.append((mql_at - timedelta(seconds=2), keystone))
    _handoff(d, j, account, segment, seniority, country, keystone)


def _handoff(
    d: Draft,
    j: Journey,
    account: int | None,
    segment: str | None,
    seniority: str,
    country: str,
    keystone: str,
) -> None:
    """Route the new MQL to a rep, who accepts, rejects or (rarely) lets the SLA lapse."""
    rng, f, end = d.rng, j.fit, d.end
    assert j.mql_at is not None
    mql_at = j.mql_at
    # Free-mail leads have no company size; routing treats them as small business.
    rep = _route(d, cat.TERRITORY_OF.get(country, "NA"), segment or "smb", mql_at)
    rep_email = str(d.plan.sales_rep[rep].fields["email"])
    actor = f"rep:{rep_email}"
    priority = "high" if keystone == "demo_request" and f >= 0.6 else "normal"
    sla = SLA_HOURS[priority]
    deadline = d.after(mql_at, hours=sla)
    decided = d.after(mql_at, hours=sla * rng.uniform(0.03, 0.95))
    fields: dict[str, Any] = {
        "priority": priority,
        "sla_deadline": deadline,
        "created_at": mql_at,
        "status": HandoffStatus.PENDING,
        "reason_code": None,
        "note": None,
        "decided_at": None,
        "breached_at": None,
    }
    handoff = len(d.plan.handoff)
    d.plan.handoff.append(
        Row(fields, {"lead_id": ("lead", j.lead), "owner_id": ("sales_rep", rep)})
    )
    j.owner = rep
    if rng.random() < 0.06 or decided >= end:  # nobody acted (yet)
        if deadline < end:
            fields["status"] = HandoffStatus.EXPIRED
            fields["breached_at"] = deadline
        return
    fields["decided_at"] = decided
    if account is not None and segment is not None and rng.random() < 0.45 + 0.45 * f:
        fields["status"] = HandoffStatus.ACCEPTED
        d.move(j, LifecycleStage.SAL, decided, reason="handoff accepted", actor=actor)
        meeting = d.after(decided, hours=rng.uniform(1, 48))
        if meeting < end:
            j.milestones.append((meeting, "meeting_booked"))
        sales(d, j, account, segment, rep, actor, decided)
        return
    code = rng.choices(
        cat.REJECTION_REASONS,
        weights=(
            4 if segment == "smb" or account is None else 0.5,
            4 if seniority == "individual" or account is None else 1,
            2,
            2,
            1,
            0.4,
        ),
    )[0]
    fields.update(status=HandoffStatus.REJECTED, reason_code=code, note=cat.REJECTION_NOTES[code])
    d.feedback(
        j,
        FeedbackKind.REJECTED,
        decided,
        reason=code,
        segment=segment,
        rep=rep,
        note=cat.REJECTION_NOTES[code],
        handoff=handoff,
    )
    recycle = code in ("no_budget", "bad_timing") or (
        code in ("too_small", "wrong_persona") and rng.random() < 0.5
    )
    to = LifecycleStage.RECYCLED if recycle else LifecycleStage.DISQUALIFIED
    d.move(j, to, decided, reason=f"{to}: {code}", actor=actor)
    j.owner = None


def _route(d: Draft, territory: str, segment: str, at: datetime) -> int:
    """Territory and segment first, then the least loaded rep relative to capacity."""
    day = d.day(at)
    away = HISTORY_DAYS - day  # days before the seed day
    active = [
        i
        for i, r in enumerate(cat.REPS)
        if (r.left_day is None or r.left_day > day)
        and (r.away_days is None or away > r.away_days[0])
    ]
    local = [i for i in active if cat.REPS[i].territory == territory]
    candidates = [i for i in local if segment in cat.REPS[i].segments] or local or active
    weights = cat.POOL_WEIGHTS.get((territory, segment), {})
    weighted = [i for i in candidates if cat.REPS[i].name in weights]
    if weighted:  # as the rulebook's weighted pool does: furthest below the weighted share
        counts = d.pool_assigned.setdefault((territory, segment), {})
        n = sum(counts.values()) + 1
        rep = max(
            weighted,
            key=lambda i: (weights[cat.REPS[i].name] * n - counts.get(i, 0), -i),
        )
        counts[rep] = counts.get(rep, 0) + 1
    else:
        rep = min(candidates, key=lambda i: (d.assigned[i] / cat.REPS[i].capacity, i))
    d.assigned[rep] += 1
    last = d.rep_last_assigned[rep]
    d.rep_last_assigned[rep] = at if last is None else max(last, at)
    return rep
