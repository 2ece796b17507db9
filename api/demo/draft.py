"""The demo plan while it is being built: its rows so far, the random source, the time window,
and the few steps every part of the generator takes (moving a lead, recording feedback).

The table builders (api/demo/plan.py), the funnel (funnel.py, sales.py) and the activities
(activities.py) all draw from the one ``rng`` of a ``Draft``, in a fixed order: that order is
what makes the same seed give the same rows.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from api.demo import catalogue as cat
from api.enums import FeedbackKind, LifecycleStage

#: The demo covers this many days before its anchor date.
HISTORY_DAYS = 182


@dataclass(slots=True)
class Row:
    """Column values of one row, plus foreign keys as (table, position in that table's rows)."""

    fields: dict[str, Any]
    refs: dict[str, tuple[str, int]] = field(default_factory=dict)


@dataclass(slots=True)
class Plan:
    """Every row of the demo, per table, in insertion order."""

    campaign: list[Row] = field(default_factory=list)
    sales_rep: list[Row] = field(default_factory=list)
    rep_absence: list[Row] = field(default_factory=list)
    account: list[Row] = field(default_factory=list)
    lead: list[Row] = field(default_factory=list)
    activity: list[Row] = field(default_factory=list)
    lead_stage_change: list[Row] = field(default_factory=list)
    handoff: list[Row] = field(default_factory=list)
    deal: list[Row] = field(default_factory=list)
    deal_stage_change: list[Row] = field(default_factory=list)
    feedback: list[Row] = field(default_factory=list)
    goal: list[Row] = field(default_factory=list)


@dataclass(slots=True)
class Journey:
    """What happened to one lead, collected while simulating it."""

    lead: int
    fit: float
    created_at: datetime
    stage: LifecycleStage = LifecycleStage.NEW
    owner: int | None = None
    mql_at: datetime | None = None
    stage_entered_at: datetime | None = None  # the last move's time (None: created_at)
    milestones: list[tuple[datetime, str]] = field(default_factory=list)
    last_event: datetime | None = None
    changes: int = 0


def weighted(rng: random.Random, pairs: Sequence[tuple[str, float]]) -> str:
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


class Draft:
    """The state of one generation; one instance per call, never shared."""

    def __init__(self, rng: random.Random, leads: int, anchor: date) -> None:
        self.rng = rng
        self.n_leads = leads
        self.anchor = anchor
        self.end = datetime.combine(anchor, time(), tzinfo=UTC)
        self.start = self.end - timedelta(days=HISTORY_DAYS)
        self.plan = Plan()
        self.assigned = [0] * len(cat.REPS)
        self.rep_last_assigned: list[datetime | None] = [None] * len(cat.REPS)
        self.pool_assigned: dict[tuple[str, str], dict[int, int]] = {}
        self.account_first_lead: dict[int, datetime] = {}
        self.account_won: dict[int, datetime] = {}
        self.campaign_of_slug = {spec.slug: i for i, spec in enumerate(cat.CAMPAIGNS)}
        self.activity_seq = 0

    def day(self, at: datetime) -> float:
        return (at - self.start).total_seconds() / 86400

    def after(self, at: datetime, *, days: float = 0, hours: float = 0) -> datetime:
        """``at`` moved by a span, in whole seconds, plus one so that a zero span still lands
        strictly after ``at`` (each step of a journey follows the one before)."""
        return at + timedelta(seconds=int(days * 86400 + hours * 3600) + 1)

    def acquiring_campaign(self, at: datetime) -> int | None:
        """The campaign that brought a lead in: whichever ran that day, spikes weighing most."""
        day = self.day(at)
        options: list[int | None] = [None]
        weights = [6.0]
        for i, spec in enumerate(cat.CAMPAIGNS):
            if spec.start_day <= day < spec.start_day + spec.days:
                options.append(i)
                weights.append(spec.pull)
        return self.rng.choices(options, weights=weights)[0]

    # -- what every part of the journey records -------------------------------------------

    def move(
        self,
        j: Journey,
        to: LifecycleStage,
        at: datetime,
        *,
        reason: str,
        actor: str,
    ) -> None:
        self.plan.lead_stage_change.append(
            Row(
                {
                    "from_stage": j.stage,
                    "to_stage": to,
                    "applied": True,
                    "reason": reason,
                    "actor": actor,
                    "entered_from_at": j.stage_entered_at or j.created_at,
                    "changed_at": at,
                },
                {"lead_id": ("lead", j.lead)},
            )
        )
        j.stage = to
        j.stage_entered_at = at
        j.changes += 1
        j.last_event = at

    def feedback(
        self,
        j: Journey,
        kind: FeedbackKind,
        at: datetime,
        *,
        reason: str,
        segment: str | None,
        rep: int | None,
        note: str | None = None,
        handoff: int | None = None,
        deal: bool = False,
    ) -> None:
        lead_row = self.plan.lead[j.lead]
        refs = {"lead_id": ("lead", j.lead)}
        if "first_campaign_id" in lead_row.refs:
            refs["campaign_id"] = lead_row.refs["first_campaign_id"]
        if rep is not None:
            refs["rep_id"] = ("sales_rep", rep)
        if handoff is not None:
            refs["handoff_id"] = ("handoff", handoff)
        if deal:
            refs["deal_id"] = ("deal", len(self.plan.deal) - 1)
        self.plan.feedback.append(
            Row(
                {
                    "kind": kind,
                    "reason_code": reason,
                    "note": note,
                    "segment": segment,
                    "created_at": at,
                },
                refs,
            )
        )
