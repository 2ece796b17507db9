"""Pure generation of the demo dataset: seed, size and anchor in, unsaved rows out.

No database here, so the same arguments always give the same rows and the writer can insert
them in a few bulk statements. Rows refer to each other by position (``refs``): the writer turns
positions into database ids after each bulk insert.

This module builds the tables that frame the demo (campaigns, reps, accounts, leads, goals);
each lead's way down the funnel is in funnel.py and sales.py, what it did in activities.py.
"""

from __future__ import annotations

import math
import random
import unicodedata
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from itertools import accumulate
from typing import Any

from api.accounts import segment_for
from api.demo import catalogue as cat
from api.demo.activities import record_activities
from api.demo.draft import HISTORY_DAYS, Draft, Journey, Plan, Row, weighted
from api.demo.funnel import walk
from api.enums import DealStage, LifecycleStage, PeriodKind, Team
from api.metrics.definitions import get_metric

_INDUSTRY_FIT = {name: fit for name, _, fit in cat.INDUSTRIES}


def build_plan(*, seed: int, leads: int, anchor: date) -> Plan:
    """The whole demo for ``leads`` leads over the ~6 months before ``anchor``."""
    return _Generator(random.Random(seed), leads, anchor).run()


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


class _Generator(Draft):
    """Builds the plan table by table; one instance per call, never shared."""

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
            territory = weighted(rng, cat.TERRITORY_SHARE)
            country = weighted(rng, cat.COUNTRIES[territory])
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
                since = self.after(self.start, days=-rng.uniform(60, 900))
                fields["customer_since"] = since
                fields["created_at"] = self.after(since, days=-rng.uniform(30, 200))
                if rng.random() < 0.25:
                    fields["churned_at"] = self.after(self.start, days=rng.uniform(5, 175))
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
            self.after(self.start, days=d, hours=rng.uniform(6, 21))
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
            country = weighted(rng, cat.COUNTRIES[weighted(rng, cat.TERRITORY_SHARE)])
        campaign = self.acquiring_campaign(created_at)
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
        journey = Journey(lead=index, fit=fit / 100, created_at=created_at)
        journey.last_event = created_at
        walk(self, journey, account, segment, seniority, country)
        record_activities(self, journey, row, campaign, channel)
        fields["stage"] = journey.stage
        fields["stage_entered_at"] = journey.stage_entered_at
        fields["mql_at"] = journey.mql_at
        fields["version"] = 1 + journey.changes
        fields["updated_at"] = journey.last_event
        if journey.owner is not None:
            refs["owner_id"] = ("sales_rep", journey.owner)

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
                fields["created_at"] = first or self.after(
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
