"""Seeded leads for the outcome-digest test (tests/rules/test_wrapper.py).

Fixed here, not shared with bench/, so that the stored digests only change when an outcome
does. The mix reaches every branch of the code around the engine: window edges to the
microsecond, activities dated after ``now``, decaying scores near their thresholds, adjustments
in and out of scope (and beyond their bound), missing fields, non-ASCII text, huge and tiny
numbers, every stage, reps with calendars, absences and shares.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from rules import EvaluationInput

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
DEMO_TYPES = [
    ("page_view", 40),
    ("email_open", 20),
    ("email_click", 8),
    ("content_download", 6),
    ("pricing_page_view", 5),
    ("form_submit", 4),
    ("webinar_attended", 3),
    ("demo_request", 2),
    ("trial_signup", 2),
    ("meeting_booked", 1),
    ("unknown_kind", 1),
]
SYNTHETIC_TYPES = [("page_view", 5), ("email_open", 3), ("email_click", 2), ("content_download", 2)]
COUNTRIES = ["US", "GB", "DE", "FR", "CA", "NL", "AU", "JP", "IN", "BR", "SG", "MX", "ES", "SE"]
COUNTRIES += ["IR", "ZA", "IE", "KP", "CH", "AE", None]  # type: ignore[list-item]
TITLES = [
    "VP Marketing",
    "Vice President, Sales",
    "Chief Revenue Officer",
    "Head of Growth",
    "Director of Demand Generation",
    "Marketing Manager",
    "Sales Development Rep",
    "Software Engineer",
    "Founder & CEO",
    "Graduate Student",
    "Marketing Intern",
    "Directrice Générale — Ventes",
    "営業部長",
    'The "Boss" \\ of Ω\tops',
    None,
]
STAGES = ["new", "new", "new", "engaged", "recycled", "mql", "sal", "disqualified", "customer"]
DOMAINS = ["gmail.com", "yahoo.com", "outlook.com", "hubspot.com", "salesforce.com"]
WINDOW_DAYS = [7, 14, 30, 60, 90, 3, 10, 45]


def _pick(rng: random.Random, weighted: list[tuple[str, int]]) -> str:
    return rng.choices([v for v, _ in weighted], [w for _, w in weighted])[0]


def reps(rng: random.Random, now: datetime) -> list[dict[str, Any]]:
    out = []
    for territory in ("NA", "EMEA", "APAC"):
        for segment in ("enterprise", "mid_market", "smb"):
            for i in range(2):
                rep: dict[str, Any] = {
                    "rep_id": f"{territory.lower()}_{segment}_{i}",
                    "territory": territory,
                    "segments": [segment],
                    "capacity": 20,
                    "open_handoffs": rng.choice([5, 12, 20]),
                    "last_assigned_at": now - timedelta(hours=rng.uniform(1, 30)),
                    "email": f"{territory.lower()}.{segment}.{i}@example.com",
                }
                if rng.random() < 0.1:
                    rep["time_zone"] = "Pacific/Auckland"
                if rng.random() < 0.1:
                    rep["out_of_office"] = [
                        {"starts_at": now - timedelta(days=1), "ends_at": now + timedelta(days=2)}
                    ]
                if rng.random() < 0.05:
                    rep["active"] = False
                out.append(rep)
    return out


def _when(rng: random.Random, now: datetime) -> datetime:
    """Mostly spread over 120 days; sometimes exactly on a window edge (± 1 µs) or ahead."""
    roll = rng.random()
    if roll < 0.1:
        edge = timedelta(days=rng.choice(WINDOW_DAYS))
        return now - edge + timedelta(microseconds=rng.choice([-1, 0, 1]))
    if roll < 0.13:
        return now + timedelta(seconds=rng.uniform(0, 3 * 86400))
    return now - timedelta(days=rng.uniform(0, 120))


def lead(
    rng: random.Random, i: int, types: list[tuple[str, int]], shared_reps: list[Any]
) -> EvaluationInput:
    now = NOW + timedelta(days=rng.uniform(-40, 40), microseconds=rng.randrange(1_000_000))
    size = int(rng.lognormvariate(5, 1.8)) if rng.random() < 0.9 else None
    domain = rng.choice(DOMAINS) if rng.random() < 0.2 else f"company{rng.randrange(5000)}.com"
    email = f"person{i}@{domain}" if rng.random() < 0.97 else f"test{i}-no-at-sign"
    if rng.random() < 0.03:
        email = f"Test.{i}@Example.ORG"
    elif rng.random() < 0.01:
        email = f'"odd\\{i}"@x.COM'  # a quote and a backslash in the JSON of a field
    count = min(80, int(rng.expovariate(1 / 12)))
    activities = [{"type": _pick(rng, types), "occurred_at": _when(rng, now)} for _ in range(count)]
    lead_data = {
        "email": email,
        "title": rng.choice(TITLES),
        "seniority": rng.choice(["c_level", "vp", "director", "manager", "ic", None]),
        "department": rng.choice(["sales", "marketing", "it", "finance", None]),
        "country": rng.choice(COUNTRIES),
        "source": rng.choice(["webinar", "organic", "paid_search", None]),
        "campaign": f"cmp_{rng.randrange(6)}",
        "stage": rng.choice(STAGES),
        "created_at": (now - timedelta(days=rng.uniform(0, 200)) if rng.random() < 0.9 else None),
    }
    revenue: float | None = None
    if size is not None and rng.random() < 0.9:
        revenue = float(size * rng.randrange(50_000, 300_000))
    if rng.random() < 0.03:
        revenue = rng.choice([0.00001, 0.5, 1e15, 12345.678901234])
    account = {
        "domain": domain,
        "industry": rng.choice(["software", "fintech", "retail", "media", None]),
        "employee_count": size if rng.random() > 0.01 else 10**18,
        "annual_revenue": revenue,
        "segment": rng.choice(["enterprise", "mid_market", "smb", None]),
        "country": rng.choice(COUNTRIES),
    }
    adjustments = []
    for _ in range(rng.choice([0, 0, 0, 1, 2, 3])):
        adjustments.append(
            {
                "score": rng.choice(["fit", "engagement", "missing_score"]),
                "delta": rng.choice([-10, -25, 5, 7.5, 40, -0.33333]),
                "scope": rng.choice(["segment", "campaign"]),
                "scope_value": rng.choice(["smb", "enterprise", "cmp_1", "cmp_2"]),
                "expires_at": now + timedelta(days=rng.uniform(-5, 30)),
            }
        )
    return EvaluationInput.model_validate(
        {
            "lead": lead_data,
            "account": account,
            "activities": activities,
            "adjustments": adjustments,
            "reps": shared_reps,
            "now": now,
        }
    )


def leads(n: int, seed: int, types: list[tuple[str, int]]) -> list[EvaluationInput]:
    rng = random.Random(seed)
    rep_sets = [reps(rng, NOW) for _ in range(4)]
    return [lead(rng, i, types, rng.choice(rep_sets)) for i in range(n)]
