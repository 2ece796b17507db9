"""Synthetic rulebooks of any size, with examples whose expectations are known by construction.

For the large-rulebook tests and the benchmarks: ``n`` rules mixing field tests, activity counts
over many distinct windows (the shape that used to hit error 303) and combinations, plus stage
rules. The examples state which signals fire and the fit score, derived from how each rule was
generated (not from running the engine), so passing them checks the engine.
"""

from __future__ import annotations

import json
from typing import Any

ACTIVITY_TYPES = ("page_view", "email_open", "email_click", "content_download")
COUNTRIES = ("US", "CA", "GB", "DE", "FR", "JP", "BR", "AU")
_STAGES = {
    "order": ["new", "engaged", "mql", "sal", "sql", "opportunity", "customer"],
    "side": ["recycled", "disqualified"],
    "initial": "new",
    "handoff": "mql",
    "manual": [
        "engaged",
        "mql",
        "sal",
        "sql",
        "opportunity",
        "customer",
        "recycled",
        "disqualified",
    ],
}
_EXAMPLE_LEADS: list[dict[str, Any]] = [
    {"country": "US", "employees": 20_000, "activities": {t: 3 for t in ACTIVITY_TYPES}, "age": 2},
    {"country": "DE", "employees": 800, "activities": {"page_view": 1}, "age": 20},
    {"country": "JP", "employees": 5, "activities": {}, "age": 0},
]


def _signal(i: int) -> tuple[dict[str, Any], Any]:
    """Rule ``i`` and a predicate (lead spec → fires?) that says when it fires."""
    kind = i % 4
    points = 1 + i % 5
    if kind == 0:
        limit = (i * 37) % 10_000
        rule = {"score": "fit", "points": points,
                "when": {"field": "account.employee_count", "gte": limit}}  # fmt: skip
        return rule, lambda lead: lead["employees"] >= limit
    if kind == 1:
        country = COUNTRIES[i % len(COUNTRIES)]
        rule = {"score": "fit", "points": points,
                "when": {"field": "lead.country", "eq": country}}  # fmt: skip
        return rule, lambda lead: lead["country"] == country
    kind_type = ACTIVITY_TYPES[(i // 4) % len(ACTIVITY_TYPES)]
    at_least = 1 + (i // 16) % 3
    within = 3 + (i * 7) % 90  # many distinct windows over the same activity type

    def counted(lead: dict[str, Any]) -> bool:
        return bool(lead["activities"].get(kind_type, 0) >= at_least and lead["age"] <= within)

    activity = {"activity": {"type": kind_type, "at_least": at_least, "within_days": within}}
    if kind == 2:
        return {"score": "engagement", "points": points, "when": activity}, counted
    limit = (i * 53) % 5_000
    both = {"all": [{"field": "account.employee_count", "gte": limit}, activity]}
    rule = {"score": "fit", "points": points, "when": both}
    return rule, lambda lead: counted(lead) and lead["employees"] >= limit


def synthetic_rulebook(n: int) -> dict[str, bytes]:
    """A rulebook of ``n`` rules (about 5% stage rules), as files for ``load_rulebook_files``."""
    stage_rules = max(2, n // 20)
    signals, predicates = [], []
    for i in range(n - stage_rules):
        rule, fires = _signal(i)
        signals.append({"name": f"s{i}", **rule})
        predicates.append((f"s{i}", rule, fires))
    qualification = [
        {
            "name": f"q{j}",
            "to": "mql" if j % 2 else "engaged",
            "when": {
                "all": [
                    {"field": "scores.fit", "gte": 10 + j * 3},
                    {"field": "scores.engagement", "gte": j % 7},
                ]
            },
        }
        for j in range(stage_rules)
    ]
    examples = []
    for k, lead in enumerate(_EXAMPLE_LEADS):
        fired = [name for name, _, fires in predicates if fires(lead)]
        fit = sum(rule["points"] for name, rule, fires in predicates
                  if rule["score"] == "fit" and fires(lead))  # fmt: skip
        examples.append(
            {
                "name": f"lead_{k}",
                "input": {
                    "lead": {"email": f"p{k}@example.org", "country": lead["country"]},
                    "account": {"employee_count": lead["employees"]},
                    "activities": [
                        {"type": t, "days_ago": lead["age"]}
                        for t, count in lead["activities"].items()
                        for _ in range(count)
                    ],
                },
                "expect": {
                    "scores": {"fit": min(fit, 10_000)},
                    "fired": fired,
                    "not_fired": [name for name, _, _ in predicates if name not in fired],
                },
            }
        )
    book = {
        "scores": {
            "fit": {"cap": 10_000},
            "engagement": {"cap": 10_000, "half_life_days": 14},
        },
        "stages": _STAGES,
        "signals": signals,
        "qualification": qualification,
        "example_defaults": {"now": "2026-01-15T12:00:00Z"},
        "examples": examples,
    }
    # JSON is YAML too: one flow-style document the loader reads like any rule file.
    return {"synthetic.yaml": json.dumps(book, indent=1).encode()}
