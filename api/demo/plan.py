"""Pure generation of the demo dataset: seed, size and anchor in, unsaved rows out.

No database here, so the same arguments always give the same rows and the writer can insert
them in a few bulk statements. Rows refer to each other by position (``refs``): the writer turns
positions into database ids after each bulk insert.
"""

from __future__ import annotations

import math
import random
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from itertools import accumulate
from typing import Any

from api.accounts import segment_for
from api.demo import catalogue as cat
from api.enums import DealStage, FeedbackKind, HandoffStatus, LifecycleStage, PeriodKind, Team
from api.metrics.definitions import get_metric

HISTORY_DAYS = 182
#: Engagement decays with this half-life, as in the demo rulebook.
HALF_LIFE_DAYS = 30.0
SLA_HOURS = {"high": 24, "normal": 72}
#: The activity a later campaign touch shows up as.
_TOUCH_OF_CHANNEL = {
    "webinar": "webinar_attended", "email": "email_click", "content": "content_download",
    "events": "form_submit", "partner": "form_submit",
}  # fmt: skip
_INDUSTRY_FIT = {name: fit for name, _, fit in cat.INDUSTRIES}


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
class _Journey:
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


def build_plan(*, seed: int, leads: int, anchor: date) -> Plan:
    """The whole demo for ``leads`` leads over the ~6 months before ``anchor``."""
    return _Generator(random.Random(seed), leads, anchor).run()


def _weighted(rng: random.Random, pairs: Sequence[tuple[str, float]]) -> str:
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


class _Generator:
    """Builds the plan table by table; one instance per call, never shared."""

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

    # -- time helpers ---------------------------------------------------------------------

    def _day(self, at: datetime) -> float:
        return (at - self.start).total_seconds() / 86400

    def _after(self, at: datetime, *, days: float = 0, hours: float = 0) -> datetime:
        """``at`` moved by a span, in whole seconds, plus one so that a zero span still lands
        strictly after ``at`` (each step of a journey follows the one before)."""
        return at + timedelta(seconds=int(days * 86400 + hours * 3600) + 1)

    # -- tables ---------------------------------------------------------------------------

    def run(self) -> Plan:
        self._campaigns()
        self._reps()
        self._accounts()
        self._leads()
        self._finish_accounts()
        self._finish_reps()
        self._goals()
        return self.plan

    def _campaigns(self) -> None:
        for spec in cat.CAMPAIGNS:
            starts_on = (self.start + timedelta(days=spec.start_day)).date()
            low, high = spec.cost
            cost = Decimal(round(self.rng.uniform(low, high), -2)).quantize(Decimal("0.01"))
            created = datetime.combine(starts_on - timedelta(days=10), time(10), tzinfo=UTC)
            self.plan.campaign.append(
                Row(
                    {
                        "key": f"{cat.KEY_PREFIX}{spec.slug}",
                        "name": spec.name,
                        "channel": spec.channel,
                        "starts_on": starts_on,
                        "ends_on": starts_on + timedelta(days=spec.days - 1),
                        "cost": cost,
                        "currency": "USD",
                        "created_at": created,
                    }
                )
            )

    def _reps(self) -> None:
        for i, spec in enumerate(cat.REPS):
            first, last = _ascii(spec.name).split(" ", 1)
            self.plan.sales_rep.append(
                Row(
                    {
                        "email": f"{first}.{last}@{cat.COMPANY_DOMAIN}",
                        "name": spec.name,
                        "territory": spec.territory,
                        "segments": list(spec.segments),
                        "capacity": spec.capacity,
                        "active": spec.left_day is None,
                        "created_at": self.start - timedelta(days=420 - 25 * i, hours=-9),
                        "time_zone": spec.time_zone,
                    }
                )
            )
            if spec.away_days is not None:  # out of office around the seed time (issue 16)
                before, after = spec.away_days
                self.plan.rep_absence.append(
                    Row(
                        {
                            "starts_at": self.end - timedelta(days=before),
                            "ends_at": self.end + timedelta(days=after),
                            "note": "annual leave",
                            "set_by": "demo",
                            "created_at": self.end - timedelta(days=before + 14),
                        },
                        {"rep_id": ("sales_rep", i)},
                    )
                )

    def _accounts(self) -> None:
        rng = self.rng
        used: set[str] = set()
        n = max(10, round(self.n_leads * 0.3))
        for _ in range(n):
            territory = _weighted(rng, cat.TERRITORY_SHARE)
            country = _weighted(rng, cat.COUNTRIES[territory])
            industry = rng.choices(
                [i[0] for i in cat.INDUSTRIES], weights=[i[1] for i in cat.INDUSTRIES]
            )[0]
            band = rng.choices(((5, 99), (100, 999), (1000, 60_000)), weights=(58, 30, 12))[0]
            employees = int(math.exp(rng.uniform(math.log(band[0]), math.log(band[1] + 1))))
            revenue = Decimal(round(employees * rng.uniform(90_000, 320_000), -3))
            name, domain = self._company_name(country, used)
            fields: dict[str, Any] = {
                "domain": domain,
                "name": name,
                "industry": industry,
                "employee_count": employees,
                "annual_revenue": revenue.quantize(Decimal("0.01")),
                "country": country,
                "segment": segment_for(employees),
                "customer_since": None,
                "churned_at": None,
            }
            if rng.random() < 0.03:  # customers from before the window, some of whom churn in it
                since = self._after(self.start, days=-rng.uniform(60, 900))
                fields["customer_since"] = since
                fields["created_at"] = self._after(since, days=-rng.uniform(30, 200))
                if rng.random() < 0.25:
                    fields["churned_at"] = self._after(self.start, days=rng.uniform(5, 175))
            self.plan.account.append(Row(fields))

    def _company_name(self, country: str, used: set[str]) -> tuple[str, str]:
        rng = self.rng
        for attempt in range(50):
            head, tail = rng.choice(cat.NAME_HEADS), rng.choice(cat.NAME_TAILS)
            suffix = rng.choice(cat.NAME_SUFFIXES) if attempt < 10 else str(rng.randint(2, 99_999))
            domain = f"{head}{tail}{suffix}.{cat.TLD_OF[country]}"
            if domain not in used:
                used.add(domain)
                words = [f"{head}{tail}".capitalize()]
                if suffix in ("group", "systems"):
                    words.append(suffix.capitalize())
                return " ".join(words), domain
        raise AssertionError("ran out of company names")  # unreachable below MAX_LEADS

    def _leads(self) -> None:
        rng = self.rng
        day_weights = [
            (1 + 0.8 * d / HISTORY_DAYS) * (0.35 if (self.start.weekday() + d) % 7 >= 5 else 1)
            for d in range(HISTORY_DAYS)
        ]
        created = sorted(
            self._after(self.start, days=d, hours=rng.uniform(6, 21))
            for d in rng.choices(range(HISTORY_DAYS), weights=day_weights, k=self.n_leads)
        )
        size_weight = {"enterprise": 4.0, "mid_market": 2.0, "smb": 1.0}
        account_cum = list(
            accumulate(size_weight[str(a.fields["segment"])] for a in self.plan.account)
        )
        used: set[str] = set()
        for index, created_at in enumerate(created):
            free_mail = rng.random() < 0.06
            account = (
                None
                if free_mail
                else rng.choices(range(len(self.plan.account)), cum_weights=account_cum)[0]
            )
            self._lead(index, created_at, account, used)

    def _lead(self, index: int, created_at: datetime, account: int | None, used: set[str]) -> None:
        rng = self.rng
        firm = self.plan.account[account].fields if account is not None else None
        first, last = rng.choice(cat.FIRST_NAMES), rng.choice(cat.LAST_NAMES)
        domain = str(firm["domain"]) if firm else rng.choice(cat.FREE_MAIL)
        email = f"{_ascii(first)}.{_ascii(last)}@{domain}"
        n = 1
        while email in used:
            n += 1
            email = f"{_ascii(first)}.{_ascii(last)}{n}@{domain}"
        used.add(email)
        seniority, _, seniority_points = rng.choices(
            cat.SENIORITIES, weights=[s[1] for s in cat.SENIORITIES]
        )[0]
        department, _, department_points, noun = rng.choices(
            cat.DEPARTMENTS, weights=[d[1] for d in cat.DEPARTMENTS]
        )[0]
        if firm is not None and rng.random() < 0.92:
            country = str(firm["country"])
        else:
            country = _weighted(rng, cat.COUNTRIES[_weighted(rng, cat.TERRITORY_SHARE)])
        campaign = self._acquiring_campaign(created_at)
        channel = cat.CAMPAIGNS[campaign].channel if campaign is not None else "direct"
        segment = str(firm["segment"]) if firm else None
        industry_fit = _INDUSTRY_FIT[str(firm["industry"])] if firm else 0.0
        fit = (
            seniority_points
            + department_points
            + {"enterprise": 30, "mid_market": 26, "smb": 10, None: 0}[segment]
            + 15 * industry_fit
            + rng.uniform(-6, 6)
        )
        fit = round(min(100.0, max(0.0, fit)), 1)
        fields: dict[str, Any] = {
            "email": email,
            "external_id": f"demo-crm-{index + 1:06d}" if rng.random() < 0.35 else None,
            "first_name": first,
            "last_name": last,
            "title": _title(seniority, department, noun),
            "seniority": seniority,
            "department": department,
            "country": country,
            "source": channel,
            "created_at": created_at,
            "fit_score": fit,
            "properties": (
                {"utm_source": channel, "utm_campaign": self.plan.campaign[campaign].fields["key"]}
                if campaign is not None
                else {}
            ),
        }
        refs: dict[str, tuple[str, int]] = {}
        if account is not None:
            refs["account_id"] = ("account", account)
            self.account_first_lead.setdefault(account, created_at)
        if campaign is not None:
            refs["first_campaign_id"] = refs["last_campaign_id"] = ("campaign", campaign)
        row = Row(fields, refs)
        self.plan.lead.append(row)
        journey = _Journey(lead=index, fit=fit / 100, created_at=created_at)
        journey.last_event = created_at
        self._journey(journey, account, segment, seniority, country)
        self._activities(journey, row, campaign, channel)
        fields["stage"] = journey.stage
        fields["stage_entered_at"] = journey.stage_entered_at
        fields["mql_at"] = journey.mql_at
        fields["version"] = 1 + journey.changes
        fields["updated_at"] = journey.last_event
        if journey.owner is not None:
            refs["owner_id"] = ("sales_rep", journey.owner)

    def _acquiring_campaign(self, at: datetime) -> int | None:
        """The campaign that brought a lead in: whichever ran that day, spikes weighing most."""
        day = self._day(at)
        options: list[int | None] = [None]
        weights = [6.0]
        for i, spec in enumerate(cat.CAMPAIGNS):
            if spec.start_day <= day < spec.start_day + spec.days:
                options.append(i)
                weights.append(spec.pull)
        return self.rng.choices(options, weights=weights)[0]

    # -- the funnel -----------------------------------------------------------------------

    def _move(
        self,
        j: _Journey,
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

    def _feedback(
        self,
        j: _Journey,
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

    def _journey(
        self,
        j: _Journey,
        account: int | None,
        segment: str | None,
        seniority: str,
        country: str,
    ) -> None:
        """Walk one lead down the funnel until it stalls, drops out or reaches the anchor."""
        rng, f, end = self.rng, j.fit, self.end
        if rng.random() < 0.03:
            at = self._after(j.created_at, hours=rng.uniform(0.1, 48))
            if at < end:
                code = rng.choice(cat.MARKETING_DISQUALIFY)
                self._move(
                    j,
                    LifecycleStage.DISQUALIFIED,
                    at,
                    reason=f"disqualified: {code}",
                    actor="rules",
                )
            return
        engaged_at = self._after(j.created_at, days=0.3 + rng.expovariate(1 / 3))
        if rng.random() > 0.4 + 0.35 * f or engaged_at >= end:
            return
        self._move(
            j, LifecycleStage.ENGAGED, engaged_at, reason="engagement threshold", actor="rules"
        )
        # The activity that tipped the lead over lands just before the move it caused.
        tipping = engaged_at - timedelta(seconds=2)
        j.milestones.append((tipping, rng.choice(("email_click", "content_download"))))
        mql_at = self._after(engaged_at, days=2 + rng.expovariate(1 / 10))
        if rng.random() > 0.08 + 0.5 * f or mql_at >= end:
            return
        self._move(j, LifecycleStage.MQL, mql_at, reason="fit and engagement met", actor="rules")
        j.mql_at = mql_at
        keystone = rng.choices(
            ("demo_request", "trial_signup", "pricing_page_view", "webinar_attended"),
            weights=(55, 25, 10, 10),
        )[0]
        j.milestones.append((mql_at - timedelta(seconds=2), keystone))
        self._handoff(j, account, segment, seniority, country, keystone)

    def _handoff(
        self,
        j: _Journey,
        account: int | None,
        segment: str | None,
        seniority: str,
        country: str,
        keystone: str,
    ) -> None:
        """Route the new MQL to a rep, who accepts, rejects or (rarely) lets the SLA lapse."""
        rng, f, end = self.rng, j.fit, self.end
        assert j.mql_at is not None
        mql_at = j.mql_at
        # Free-mail leads have no company size; routing treats them as small business.
        rep = self._route(cat.TERRITORY_OF.get(country, "NA"), segment or "smb", mql_at)
        rep_email = str(self.plan.sales_rep[rep].fields["email"])
        actor = f"rep:{rep_email}"
        priority = "high" if keystone == "demo_request" and f >= 0.6 else "normal"
        sla = SLA_HOURS[priority]
        deadline = self._after(mql_at, hours=sla)
        decided = self._after(mql_at, hours=sla * rng.uniform(0.03, 0.95))
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
        handoff = len(self.plan.handoff)
        self.plan.handoff.append(
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
            self._move(j, LifecycleStage.SAL, decided, reason="handoff accepted", actor=actor)
            meeting = self._after(decided, hours=rng.uniform(1, 48))
            if meeting < end:
                j.milestones.append((meeting, "meeting_booked"))
            self._sales(j, account, segment, rep, actor, decided)
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
        fields.update(
            status=HandoffStatus.REJECTED, reason_code=code, note=cat.REJECTION_NOTES[code]
        )
        self._feedback(
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
        self._move(j, to, decided, reason=f"{to}: {code}", actor=actor)
        j.owner = None

    def _route(self, territory: str, segment: str, at: datetime) -> int:
        """Territory and segment first, then the least loaded rep relative to capacity."""
        day = self._day(at)
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
            counts = self.pool_assigned.setdefault((territory, segment), {})
            n = sum(counts.values()) + 1
            rep = max(
                weighted,
                key=lambda i: (weights[cat.REPS[i].name] * n - counts.get(i, 0), -i),
            )
            counts[rep] = counts.get(rep, 0) + 1
        else:
            rep = min(candidates, key=lambda i: (self.assigned[i] / cat.REPS[i].capacity, i))
        self.assigned[rep] += 1
        last = self.rep_last_assigned[rep]
        self.rep_last_assigned[rep] = at if last is None else max(last, at)
        return rep

    def _drop(
        self, j: _Journey, at: datetime, segment: str, rep: int, actor: str, codes: tuple[str, ...]
    ) -> None:
        """Sales sends the lead back to nurture (or out) and tells marketing why."""
        if at >= self.end:
            return
        code = self.rng.choice(codes)
        recycle = code in ("no_budget", "bad_timing") or self.rng.random() < 0.3
        to = LifecycleStage.RECYCLED if recycle else LifecycleStage.DISQUALIFIED
        kind = FeedbackKind.RECYCLED if recycle else FeedbackKind.DISQUALIFIED
        self._feedback(j, kind, at, reason=code, segment=segment, rep=rep)
        self._move(j, to, at, reason=f"{to}: {code}", actor=actor)
        if recycle:
            j.owner = None

    def _sales(
        self, j: _Journey, account: int, segment: str, rep: int, actor: str, accepted: datetime
    ) -> None:
        rng, f, end = self.rng, j.fit, self.end
        sql_at = self._after(accepted, days=2 + rng.expovariate(1 / 5))
        if sql_at >= end:
            return
        if rng.random() > 0.6 + 0.25 * f:
            reasons = ("no_budget", "bad_timing", "wrong_persona", "too_small")
            self._drop(
                j, self._after(accepted, days=rng.uniform(3, 20)), segment, rep, actor, reasons
            )
            return
        self._move(j, LifecycleStage.SQL, sql_at, reason="qualified on discovery call", actor=actor)
        opp_at = self._after(sql_at, days=2 + rng.expovariate(1 / 5))
        if opp_at >= end:
            return
        if rng.random() > 0.55 + 0.2 * f:
            self._drop(j, self._after(sql_at, days=rng.uniform(3, 15)), segment, rep, actor,
                       ("no_budget", "bad_timing", "competitor"))  # fmt: skip
            return
        self._move(j, LifecycleStage.OPPORTUNITY, opp_at, reason="deal created", actor=actor)
        self._deal(j, account, segment, rep, actor, opp_at)

    def _deal(
        self, j: _Journey, account: int, segment: str, rep: int, actor: str, opened: datetime
    ) -> None:
        rng, f, end = self.rng, j.fit, self.end
        plan_name, low, high = cat.PLANS[segment]
        firm = self.plan.account[account].fields
        rep_email = str(self.plan.sales_rep[rep].fields["email"])
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
        deal = len(self.plan.deal)
        self.plan.deal.append(
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
            self.plan.deal_stage_change.append(
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
            at = self._after(at, days=rng.uniform(4, 20))
            if at >= end:
                return
            if rng.random() < 0.2:
                break  # lost before reaching the next stage
            step(to, at)
        else:
            at = self._after(at, days=rng.uniform(4, 20))
            if at >= end:
                return
            won = rng.random() < 0.55 + 0.25 * f
        reasons = cat.WON_REASONS if won else cat.LOST_REASONS
        reason = _weighted(rng, reasons)
        step(DealStage.CLOSED_WON if won else DealStage.CLOSED_LOST, at)
        fields.update(closed_at=at, close_reason=reason)
        kind = FeedbackKind.WON if won else FeedbackKind.LOST
        self._feedback(j, kind, at, reason=reason, segment=segment, rep=rep, deal=True)
        if won:
            self._move(j, LifecycleStage.CUSTOMER, at, reason="deal won", actor="system")
            first = self.account_won.get(account)
            self.account_won[account] = at if first is None else min(first, at)
            j.milestones.append((self._after(at, days=rng.uniform(1, 10)), "page_view"))
        else:
            later = self._after(at, days=rng.uniform(0.5, 5))
            if later < end:
                self._move(
                    j,
                    LifecycleStage.RECYCLED,
                    later,
                    reason=f"recycled: lost to {reason}",
                    actor=actor,
                )
                j.owner = None

    # -- activities and scores ------------------------------------------------------------

    def _activities(self, j: _Journey, row: Row, campaign: int | None, channel: str) -> None:
        """What the lead did: the touch that created it, milestones, and background browsing."""
        rng, end = self.rng, self.end
        first_type = {
            "webinar": "form_submit", "content": "content_download", "events": "form_submit",
            "email": "email_click", "organic": rng.choice(("form_submit", "trial_signup")),
        }.get(channel, rng.choice(("form_submit", "content_download")))  # fmt: skip
        touches: list[tuple[datetime, str, int | None]] = [(j.created_at, first_type, campaign)]
        touches += [(at, kind, None) for at, kind in j.milestones if at < end]
        if channel == "webinar" and rng.random() < 0.6:
            attended = self._after(j.created_at, days=rng.uniform(1, 6))
            if attended < end:
                touches.append((attended, "webinar_attended", campaign))
        last_campaign: tuple[datetime, int] | None = None
        if j.stage != LifecycleStage.NEW and rng.random() < 0.35:
            at = self._after(j.created_at, days=rng.uniform(1, 60))
            second = self._acquiring_campaign(at) if at < end else None
            if second is not None:
                kind = _TOUCH_OF_CHANNEL.get(cat.CAMPAIGNS[second].channel, "page_view")
                touches.append((at, kind, second))
                last_campaign = (at, second)
        # Leads further down the funnel browse and read more: new, engaged, mql and beyond.
        low, high = ((1, 4), (4, 11), (8, 18))[min(len(j.milestones), 2)]
        extra = rng.randint(low, high)
        horizon = min(end, self._after(j.last_event or j.created_at, days=25))
        span = max(60.0, (horizon - j.created_at).total_seconds() - 60)
        nurture = self.campaign_of_slug["nurture"]
        for _ in range(extra):
            at = j.created_at + timedelta(seconds=int(rng.uniform(60, span)))
            if at >= end:
                continue
            kind = _weighted(rng, cat.BROWSING)
            touches.append((at, kind, nurture if kind.startswith("email") else None))
        touches.sort(key=lambda t: (t[0], t[1]))
        engagement = 0.0
        for at, kind, touch_campaign in touches:
            self.activity_seq += 1
            engagement += cat.ACTIVITY_POINTS[kind] * 0.5 ** (
                (end - at).total_seconds() / 86400 / HALF_LIFE_DAYS
            )
            self.plan.activity.append(
                Row(
                    {
                        "type": kind,
                        "occurred_at": at,
                        "created_at": at,
                        "source": _activity_source(kind),
                        "external_id": f"demo-act-{self.activity_seq}",
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

    # -- derived fields -------------------------------------------------------------------

    def _finish_accounts(self) -> None:
        for i, row in enumerate(self.plan.account):
            fields = row.fields
            won = self.account_won.get(i)
            if won is not None:
                churned = fields["churned_at"]
                if churned is not None and churned < won:  # won back after churning
                    fields["churned_at"] = None
                    fields["customer_since"] = won
                elif fields["customer_since"] is None:
                    fields["customer_since"] = won
            if "created_at" not in fields:
                first = self.account_first_lead.get(i)
                fields["created_at"] = first or self._after(
                    self.start, days=self.rng.uniform(0, HISTORY_DAYS - 1)
                )
            elif i in self.account_first_lead:
                fields["created_at"] = min(fields["created_at"], self.account_first_lead[i])
            fields["updated_at"] = max(
                at
                for at in (fields["created_at"], fields["customer_since"], fields["churned_at"])
                if at is not None
            )

    def _finish_reps(self) -> None:
        for i, row in enumerate(self.plan.sales_rep):
            row.fields["last_assigned_at"] = self.rep_last_assigned[i]

    def _goals(self) -> None:
        """Targets for the anchor's quarter, set a bit above the recent run rate."""
        q_start = date(self.anchor.year, 3 * ((self.anchor.month - 1) // 3) + 1, 1)
        recent = self.end - timedelta(days=91)
        leads = [r.fields for r in self.plan.lead]
        new = sum(1 for f in leads if f["created_at"] >= recent)
        mql = sum(1 for f in leads if f["mql_at"] is not None and f["mql_at"] >= recent)
        sql = sum(
            1 for r in self.plan.lead_stage_change
            if r.fields["to_stage"] == LifecycleStage.SQL and r.fields["changed_at"] >= recent
        )  # fmt: skip
        deals = [r.fields for r in self.plan.deal]
        pipeline = sum((d["amount"] for d in deals if d["created_at"] >= recent), Decimal(0))
        closed = [d for d in deals if d["stage"] == DealStage.CLOSED_WON]
        won = sum((d["amount"] for d in closed if d["closed_at"] >= recent), Decimal(0))
        targets = (
            ("new_leads", Team.MARKETING, Decimal(round(new * 1.1, -1))),
            ("mqls", Team.MARKETING, Decimal(round(mql * 1.15))),
            ("sqls", Team.SHARED, Decimal(round(sql * 1.15))),
            ("pipeline_value", Team.SHARED, Decimal(round(float(pipeline) * 1.2, -3))),
            ("revenue_won", Team.SALES, Decimal(round(float(won) * 1.2, -3))),
        )
        created = datetime.combine(q_start - timedelta(days=7), time(9), tzinfo=UTC)
        for metric, team, target in targets:
            get_metric(metric, field="goal")  # a goal on an unknown metric is never stored
            self.plan.goal.append(
                Row(
                    {
                        "metric": metric,
                        "period_kind": PeriodKind.QUARTER,
                        "period_start": q_start,
                        "target": max(target, Decimal(1)).quantize(Decimal("0.01")),
                        "team": team,
                        "created_at": created,
                        "updated_at": created,
                    }
                )
            )


def _title(seniority: str, department: str, noun: str) -> str:
    if seniority == "c_level":
        return cat.C_LEVEL_TITLES[department]
    if seniority == "vp":
        return f"VP of {noun}"
    if seniority == "director":
        return f"Director of {noun}"
    if seniority == "manager":
        return f"{noun} Manager"
    return cat.INDIVIDUAL_TITLES[department]


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
