"""Turn an :class:`EvaluationInput` into strictly typed engine facts.

Facts are flat, numbers are normalised (no exponent form), missing values are omitted (so
``exists``/``missing`` work), and every fact carries a unique ``n`` so that asserting two equal
activities never raises ``MessageObservedException`` (DESIGN.md §4).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from rules.catalogue import ACCOUNT_FIELDS, LEAD_FIELDS
from rules.compiler import ACTIVITY, micros, number
from rules.models import AdjustmentData, EvaluationInput
from rules.regex import Regex
from rules.rulebook import Rulebook


@dataclass
class Facts:
    subject: dict[str, Any]
    """Flat ``lead__*``/``account__*``/``adjustments__*`` fields (no ``k``, ``sid``, ``n``)."""
    activities: list[dict[str, Any]]
    """``type``, ``age`` (µs, integer), ``t`` (-age), ``rank`` (1 = newest of its type)."""
    adjustments: dict[str, float]


def applicable_adjustments(book: Rulebook, inp: EvaluationInput) -> dict[str, float]:
    """Sum of active, in-scope adjustment deltas per score, clamped to ±adjustment_bound."""
    totals = {name: 0.0 for name in book.scores}
    for adj in inp.adjustments:
        if adj.score in totals and _applies(adj, inp):
            totals[adj.score] += adj.delta
    out = {}
    for name, total in totals.items():
        bound = book.scores[name].adjustment_bound
        out[name] = float(number(max(-bound, min(bound, total))))
    return out


def _applies(adj: AdjustmentData, inp: EvaluationInput) -> bool:
    if adj.expires_at <= inp.now:
        return False
    if adj.scope == "segment":
        return inp.account.segment == adj.scope_value
    return inp.lead.campaign == adj.scope_value


def build_facts(
    book: Rulebook,
    inp: EvaluationInput,
    lookback_days: float | None = None,
    regexes: Mapping[str, tuple[str, Regex]] | None = None,
    only: frozenset[str] | None = None,
    windows: Mapping[str, int] | None = None,
) -> Facts:
    """Facts of one evaluation.

    ``regexes`` (from the compiled rulebook) adds regex results; ``only`` keeps just the
    subject fields some rule tests and ``windows`` (type → seconds) just the activities some
    rule can see (smaller facts: less JSON, less matching, same outcome).
    """
    lead, account = inp.lead, inp.account
    fields: dict[str, Any] = {}
    keys = only if only is not None else _ALL_KEYS
    for key in keys:
        source, _, attr = key.partition("__")
        if source == "lead":
            if attr == "email_domain":
                if "@" in lead.email:
                    fields[key] = lead.email.rsplit("@", 1)[1].lower()
            elif attr == "age_days":
                if lead.created_at is not None:
                    fields[key] = (inp.now - lead.created_at) / _DAY
            else:
                fields[key] = getattr(lead, attr, None)
        elif source == "account":
            fields[key] = getattr(account, attr, None)
    subject: dict[str, Any] = {}
    for key, value in fields.items():
        if value is None:
            continue
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = number(value)
        subject[key] = value
    for key, (field, pattern) in (regexes or {}).items():
        text = fields.get(field)
        subject[key] = isinstance(text, str) and pattern.fullmatch(text) is not None
    adjustments = applicable_adjustments(book, inp)
    for name, delta in adjustments.items():
        subject[f"adjustments__{name}"] = number(delta)
    horizon = micros(book.lookback_days if lookback_days is None else lookback_days)
    recent = []
    for act in inp.activities:
        # Exact integer microseconds (datetime's resolution): window edges are exact and an
        # activity dated after ``now``, even by 1 µs, never counts.
        age = (inp.now - act.occurred_at) // _MICROSECOND
        limit = horizon if windows is None else windows.get(act.type, -1)
        if 0 <= age <= limit:
            recent.append((age, act.type))
    recent.sort(key=_first)
    ranks: dict[str, int] = {}
    activities = []
    for age, kind in recent:
        rank = ranks[kind] = ranks.get(kind, 0) + 1
        # ``t`` is the time relative to now (-age): sequences compare it without huge numbers.
        activities.append({"k": ACTIVITY, "type": kind, "age": age, "t": -age, "rank": rank})
    return Facts(subject, activities, adjustments)


_ALL_KEYS = frozenset(
    [f"lead__{k}" for k in LEAD_FIELDS] + [f"account__{k}" for k in ACCOUNT_FIELDS]
)


_MICROSECOND = timedelta(microseconds=1)
_DAY = timedelta(days=1)


def _first(item: tuple[int, str]) -> int:
    return item[0]
