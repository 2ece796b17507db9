"""The pick inside a route's pool: weighted shares with an explicit catch-up policy.

durable_rules decides WHICH route applies; this module decides WHO in its pool gets the lead.
Per route, rep and ISO week a ledger counts the leads a rep was assigned and the share of leads
they were entitled to. Every lead routed by the route adds ``weight / sum of eligible weights``
to each eligible rep's entitlement; the rep furthest below entitlement wins (ties: oldest last
assignment, then rep id), so a 70/30 pool stays within one lead of 70/30.

Entitlement accrues only while a rep is eligible (active, below capacity, available). A rep who
was away is therefore not owed what they missed (catch-up ``none``: not flooded on return).
With ``catch_up: {per_day: N}`` an absent rep accrues what they missed as ``owed`` instead, and
is repaid at most N extra leads per day after return. Pure: no database, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from rules.models import RepData, RepShare, ShareData
from rules.rulebook import Route

_EPS = 1e-9


def period_start(now: datetime) -> date:
    """The Monday of ``now``'s ISO week (UTC): ledgers start afresh every week."""
    day = now.date()
    return day - timedelta(days=day.weekday())


@dataclass(frozen=True, slots=True)
class Policy:
    """A route's distribution: weights by rep email (empty: equal) and the catch-up cap."""

    weights: Mapping[str, float]
    catch_up_per_day: int | None = None
    """None: catch-up ``none``. N: an absent rep's missed share is repaid, N extra a day."""

    def weight(self, rep: RepData) -> float:
        if not self.weights:
            return 1.0
        return float(self.weights.get(rep.email or "", 0.0))


def route_policy(route: Route) -> Policy:
    return Policy(weights=dict(route.weights), catch_up_per_day=route.catch_up_per_day)


@dataclass(frozen=True, slots=True)
class Pick:
    rep_id: str
    why: str
    shares: list[RepShare]
    """The ledger rows of every rep this lead changed (eligible ones and owed absent ones)."""


def share_of(rep: RepData, route: str, period: date) -> ShareData:
    """The rep's ledger row for this route and week (zeros when there is none yet)."""
    for share in rep.shares:
        if share.route == route and share.period == period:
            return share
    return ShareData(route=route, period=period)


def pick(
    *,
    route: str,
    eligible: Sequence[RepData],
    absent: Sequence[RepData],
    policy: Policy,
    now: datetime,
) -> Pick:
    """Choose among ``eligible`` (non-empty); ``absent`` are the pool's reps that could not
    take the lead now (they accrue ``owed`` only under a catch-up cap)."""
    if not eligible:
        raise ValueError("pick needs at least one eligible rep")
    period = period_start(now)
    today = now.date()
    weights = {r.rep_id: policy.weight(r) for r in [*eligible, *absent]}
    total = sum(weights[r.rep_id] for r in eligible)
    if total <= 0:  # only reps without a weight are free: share equally among them
        weights.update({r.rep_id: 1.0 for r in eligible})
        total = float(len(eligible))
    before = {r.rep_id: share_of(r, route, period) for r in [*eligible, *absent]}
    entitled = {r.rep_id: before[r.rep_id].entitled + weights[r.rep_id] / total for r in eligible}
    deficit = {rid: e - before[rid].assigned for rid, e in entitled.items()}

    def extra_left(rep_id: str) -> int:
        if policy.catch_up_per_day is None:
            return 0
        share = before[rep_id]
        used = share.extra_count if share.extra_day == today else 0
        return max(0, policy.catch_up_per_day - used)

    def bonus(rep_id: str) -> float:
        owed = before[rep_id].owed
        return owed if owed > _EPS and extra_left(rep_id) > 0 else 0.0

    def rank(rep: RepData) -> tuple[float, float, str]:
        last = rep.last_assigned_at.timestamp() if rep.last_assigned_at else float("-inf")
        return (-round(deficit[rep.rep_id] + bonus(rep.rep_id), 9), last, rep.rep_id)

    chosen = min(eligible, key=rank)
    cid = chosen.rep_id
    best_plain = max(deficit.values())
    is_extra = bonus(cid) > 0 and deficit[cid] < best_plain - _EPS
    shares: list[RepShare] = []
    for rep in eligible:
        old = before[rep.rep_id]
        # a repaid lead (extra) is the returning rep's alone; others accrue their weight
        share_now = weights[rep.rep_id] / total
        gained = float(rep.rep_id == cid) if is_extra else share_now
        new = old.model_copy(update={"entitled": round(old.entitled + gained, 9)})
        if rep.rep_id == cid:
            update: dict[str, object] = {"assigned": old.assigned + 1}
            if is_extra:
                used = old.extra_count if old.extra_day == today else 0
                update.update(
                    owed=round(max(0.0, old.owed - 1.0), 9), extra_day=today, extra_count=used + 1
                )
            new = new.model_copy(update=update)
        shares.append(RepShare(rep_id=rep.rep_id, share=new))
    if policy.catch_up_per_day is not None:
        everyone = total + sum(weights[r.rep_id] for r in absent)
        for rep in absent:
            if weights[rep.rep_id] > 0:
                old = before[rep.rep_id]
                owed = round(old.owed + weights[rep.rep_id] / everyone, 9)
                shares.append(
                    RepShare(rep_id=rep.rep_id, share=old.model_copy(update={"owed": owed}))
                )
    why = _why(route, eligible, absent, chosen, weights, total, before, is_extra, policy)
    return Pick(rep_id=cid, why=why, shares=shares)


def _label(rep: RepData) -> str:
    return rep.email or rep.rep_id


def _why(
    route: str,
    eligible: Sequence[RepData],
    absent: Sequence[RepData],
    chosen: RepData,
    weights: Mapping[str, float],
    total: float,
    before: Mapping[str, ShareData],
    is_extra: bool,
    policy: Policy,
) -> str:
    """``route r: 2 eligible rep(s), picked blake@x: weight 0.7, 3 below share this week …``"""

    def line(rep: RepData) -> str:
        share = before[rep.rep_id]
        below = share.entitled - share.assigned
        where = "below" if below >= 0 else "above"
        return (
            f"{_label(rep)}: weight {weights[rep.rep_id] / total:.2g}, "
            f"{abs(below):.3g} {where} share this week ({share.assigned} of "
            f"{share.entitled:.3g})"
        )

    text = f"route {route}: {len(eligible)} eligible rep(s), picked {line(chosen)}"
    if is_extra:
        share = before[chosen.rep_id]
        text += (
            f"; catch-up: {share.owed:.3g} owed after absence, at most "
            f"{policy.catch_up_per_day} extra a day"
        )
    others = [line(r) for r in eligible if r.rep_id != chosen.rep_id]
    if others:
        text += "; others: " + "; ".join(others)
    if absent:
        policy_word = (
            "none: missed leads are not owed"
            if policy.catch_up_per_day is None
            else f"capped at {policy.catch_up_per_day} extra a day"
        )
        names = ", ".join(_label(r) for r in absent)
        text += f"; not eligible now: {names} (catch-up {policy_word})"
    return text
