"""Turn an :class:`EvaluationInput` into strictly typed engine facts.

Facts are flat, numbers are normalised (no exponent form), missing values are omitted (so
``exists``/``missing`` work), and every fact carries a unique ``n`` so that asserting two equal
activities never raises ``MessageObservedException`` (DESIGN.md §4).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from rules import limits
from rules.catalogue import ACCOUNT_FIELDS, LEAD_FIELDS
from rules.encoding import ACTIVITY, micros, number
from rules.models import AdjustmentData, EvaluationInput
from rules.regex import Regex, fullmatcher
from rules.rulebook import Rulebook


@dataclass
class Facts:
    subject: dict[str, Any]
    """Flat ``lead__*``/``account__*``/``adjustments__*`` fields (no ``k``, ``sid``, ``n``)."""
    activities: list[dict[str, Any]]
    """``type``, ``age`` (µs, integer), ``t`` (-age), ``rank`` (1 = newest of its type)."""
    adjustments: dict[str, float]
    ages: list[int] = field(default_factory=list)
    """Age (µs) of every input activity, in input order (the horizon reuses them)."""


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
    subject fields some rule tests and ``windows`` (type → µs) just the activities some
    rule can see (smaller facts: less JSON, less matching, same outcome).
    """
    return FactBuilder(book, lookback_days, regexes, only, windows).build(inp)


class FactBuilder:
    """:func:`build_facts` with the per-rulebook work done once (the evaluator's hot path):
    which fields to read and how, regex matchers, zero adjustments."""

    def __init__(
        self,
        book: Rulebook,
        lookback_days: float | None = None,
        regexes: Mapping[str, tuple[str, Regex]] | None = None,
        only: frozenset[str] | None = None,
        windows: Mapping[str, int] | None = None,
    ) -> None:
        self.book = book
        keys = sorted(only if only is not None else _ALL_KEYS)
        self._lead = [(k, a) for k in keys if (a := _attr(k, "lead__")) is not None]
        self._account = [(k, a) for k in keys if (a := _attr(k, "account__")) is not None]
        self._regexes = [
            (key, source, fullmatcher(regex)) for key, (source, regex) in (regexes or {}).items()
        ]
        self._zero = {f"adjustments__{name}": 0 for name in book.scores}
        self._no_adjustments = {name: 0.0 for name in book.scores}
        self._horizon = micros(book.lookback_days if lookback_days is None else lookback_days)
        self._windows = windows

    def build(self, inp: EvaluationInput) -> Facts:
        lead, account, now = inp.lead, inp.account, inp.now
        fields: dict[str, Any] = {}
        for key, attr in self._lead:
            if attr == "email_domain":
                if "@" in lead.email:
                    fields[key] = lead.email.rsplit("@", 1)[1].lower()
            elif attr == "age_days":
                if lead.created_at is not None:
                    fields[key] = (now - lead.created_at) / _DAY
            else:
                fields[key] = getattr(lead, attr, None)
        for key, attr in self._account:
            fields[key] = getattr(account, attr, None)
        subject: dict[str, Any] = {}
        for key, value in fields.items():
            if value is None:
                continue
            kind = type(value)
            if kind is float or (kind is int and not -_BIG <= value <= _BIG):
                value = number(value)
            subject[key] = value
        for key, source, fullmatch in self._regexes:
            text = fields.get(source)
            subject[key] = isinstance(text, str) and fullmatch(text)
        if inp.adjustments:
            adjustments = applicable_adjustments(self.book, inp)
            for name, delta in adjustments.items():
                subject[f"adjustments__{name}"] = number(delta)
        else:
            adjustments = dict(self._no_adjustments)
            subject.update(self._zero)
        horizon, windows = self._horizon, self._windows
        ages = [(now - act.occurred_at) // _MICROSECOND for act in inp.activities]
        recent = []
        for age, act in zip(ages, inp.activities, strict=True):
            # Exact integer microseconds (datetime's resolution): window edges are exact and an
            # activity dated after ``now``, even by 1 µs, never counts.
            limit = horizon if windows is None else windows.get(act.type, -1)
            if 0 <= age <= limit:
                recent.append((age, act.type))
        recent.sort(key=_first)
        ranks: dict[str, int] = {}
        activities = []
        for age, kind_ in recent:
            rank = ranks[kind_] = ranks.get(kind_, 0) + 1
            # ``t`` is the time relative to now (-age): sequences compare it without huge numbers.
            activities.append({"k": ACTIVITY, "type": kind_, "age": age, "t": -age, "rank": rank})
        return Facts(subject, activities, adjustments, ages)


def _attr(key: str, prefix: str) -> str | None:
    return key[len(prefix) :] if key.startswith(prefix) else None


_BIG = int(limits.MAX_ABS_NUMBER)


_ALL_KEYS = frozenset(
    [f"lead__{k}" for k in LEAD_FIELDS] + [f"account__{k}" for k in ACCOUNT_FIELDS]
)


_MICROSECOND = timedelta(microseconds=1)
_DAY = timedelta(days=1)


def _first(item: tuple[int, str]) -> int:
    return item[0]
