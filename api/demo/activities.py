"""The demo's activities: the touch that created each lead, the milestones of its journey,
background browsing, and the engagement score they add up to."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from api.demo import catalogue as cat
from api.demo.draft import Draft, Journey, Row, weighted
from api.enums import LifecycleStage

#: Engagement decays with this half-life, as in the demo rulebook.
HALF_LIFE_DAYS = 30.0
#: The activity a later campaign touch shows up as.
_TOUCH_OF_CHANNEL = {
    "webinar": "webinar_attended", "email": "email_click", "content": "content_download",
    "events": "form_submit", "partner": "form_submit",
}  # fmt: skip


def record_activities(d: Draft, j: Journey, row: Row, campaign: int | None, channel: str) -> None:
    """What the lead did: the touch that created it, milestones, and background browsing."""
    rng, end = d.rng, d.end
    first_type = {
        "webinar": "form_submit", "content": "content_download", "events": "form_submit",
        "email": "email_click", "organic": rng.choice(("form_submit", "trial_signup")),
    }.get(channel, rng.choice(("form_submit", "content_download")))  # fmt: skip
    touches: list[tuple[datetime, str, int | None]] = [(j.created_at, first_type, campaign)]
    touches += [(at, kind, None) for at, kind in j.milestones if at < end]
    if channel == "webinar" and rng.random() < 0.6:
        attended = d.after(j.created_at, days=rng.uniform(1, 6))
        if attended < end:
            touches.append((attended, "webinar_attended", campaign))
    last_campaign: tuple[datetime, int] | None = None
    if j.stage != LifecycleStage.NEW and rng.random() < 0.35:
        at = d.after(j.created_at, days=rng.uniform(1, 60))
        second = d.acquiring_campaign(at) if at < end else None
        if second is not None:
            kind = _TOUCH_OF_CHANNEL.get(cat.CAMPAIGNS[second].channel, "page_view")
            touches.append((at, kind, second))
            last_campaign = (at, second)
    # Leads further down the funnel browse and read more: new, engaged, mql and beyond.
    low, high = ((1, 4), (4, 11), (8, 18))[min(len(j.milestones), 2)]
    extra = rng.randint(low, high)
    horizon = min(end, d.after(j.last_event or j.created_at, days=25))
    span = max(60.0, (horizon - j.created_at).total_seconds() - 60)
    nurture = d.campaign_of_slug["nurture"]
    for _ in range(extra):
        at = j.created_at + timedelta(seconds=int(rng.uniform(60, span)))
        if at >= end:
            continue
        kind = weighted(rng, cat.BROWSING)
        touches.append((at, kind, nurture if kind.startswith("email") else None))
    touches.sort(key=lambda t: (t[0], t[1]))
    engagement = 0.0
    for at, kind, touch_campaign in touches:
        d.activity_seq += 1
        engagement += cat.ACTIVITY_POINTS[kind] * 0.5 ** (
            (end - at).total_seconds() / 86400 / HALF_LIFE_DAYS
        )
        d.plan.activity.append(
            Row(
                {
                    "type": kind,
                    "occurred_at": at,
                    "created_at": at,
                    "source": _activity_source(kind),
                    "external_id": f"demo-act-{d.activity_seq}",
                    "properties": _activity_properties(rng, kind),
                },
                {"lead_id": ("lead", j.lead)}
                | (
                    {"campaign_id": ("campaign", touch_campaign)}
                    if touch_campaign is not None
                    else {}
                ),
            )
        )
    if last_campaign is not None:
        row.refs["last_campaign_id"] = ("campaign", last_campaign[1])
    score = round(min(100.0, engagement), 1)
    row.fields["engagement_score"] = score
    row.fields["scores"] = {"fit": row.fields["fit_score"], "engagement": score}


def _activity_source(kind: str) -> str:
    if kind.startswith("email"):
        return "email"
    if kind in ("webinar_attended",):
        return "webinar"
    if kind in ("trial_signup",):
        return "product"
    if kind in ("meeting_booked",):
        return "crm"
    return "website"


def _activity_properties(rng: random.Random, kind: str) -> dict[str, object]:
    if kind == "page_view":
        return {"url": rng.choice(cat.PAGES)}
    if kind == "pricing_page_view":
        return {"url": "/pricing"}
    if kind in ("email_open", "email_click"):
        return {"email": f"nurture-{rng.randint(1, 8)}"}
    if kind == "content_download":
        return {"asset": rng.choice(cat.ASSETS)}
    if kind == "form_submit":
        return {"form": rng.choice(("contact", "newsletter", "gated-content", "event-badge-scan"))}
    if kind == "trial_signup":
        return {"plan": "trial-14d"}
    return {}
