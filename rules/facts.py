"""Turn an :class:`EvaluationInput` into strictly typed engine facts.

Facts are flat, numbers are normalised (no exponent form), missing values are omitted (so
``exists``/``missing`` work), and every fact carries a unique ``n`` so that asserting two equal
activities never raises ``MessageObservedException`` (DESIGN.md §4).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import timedelta
from operator import itemgetter
from typing import Any

from rules import limits
from rules.catalogue import ACCOUNT_FIELDS, LEAD_FIELDS
from rules.encoding import ACTIVITY, micros, number
from rules.models import AdjustmentData, EvaluationInput
from rules.regex import Regex, fullmatcher
from rules.rulebook import Rulebook


class Facts:
    """The facts of one evaluation. The evaluator reads ``recent`` (and the JSON text of the
    activity facts, written by :meth:`FactBuilder.build` when given a sid); ``activities`` as
    dicts are made on first use only (the explainer, the baselines in bench/)."""

    __slots__ = ("_activities", "adjustments", "ahead", "newest", "recent", "subject", "texts")

    def __init__(
        self,
        subject: dict[str, Any],
        activities: list[dict[str, Any]] | None = None,
        adjustments: dict[str, float] | None = None,
        *,
        recent: list[tuple[int, str]] | None = None,
        ahead: list[tuple[int, str]] | None = None,
    ) -> None:
        self.subject = subject
        """Flat ``lead__*``/``account__*``/``adjustments__*`` fields (no ``k``, ``sid``, ``n``)."""
        self._activities = activities
        self.adjustments = adjustments if adjustments is not None else {}
        self.recent = recent if recent is not None else []
        """(age µs, type) of the asserted activities, newest first (ties in input order)."""
        self.ahead = ahead if ahead is not None else []
        """(age µs, type) of the activities dated after ``now`` (negative ages)."""
        self.texts: list[str] = []
        """The engine JSON of each activity of ``recent`` (when built with a sid)."""
        self.newest: dict[str, int] = {}
        """Type → age (µs) of its newest asserted activity (when built with a sid)."""

    @property
    def activities(self) -> list[dict[str, Any]]:
        """``type``, ``age`` (µs, integer), ``t`` (-age), ``rank`` (1 = newest of its type)."""
        if self._activities is None:
            ranks: dict[str, int] = {}
            out = []
            for age, kind in self.recent:
                rank = ranks[kind] = ranks.get(kind, 0) + 1
                # ``t`` is the time relative to now (-age): sequences compare it without huge
                # numbers.
                out.append({"k": ACTIVITY, "type": kind, "age": age, "t": -age, "rank": rank})
            self._activities = out
        return self._activities


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
    which fields to read and how, regex matchers, zero adjustments, the JSON of each type."""

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
        # (key, 0 lead / 1 account, attribute, how): read in this order (lead fields first).
        self._reads = [
            (k, 0, a, _DERIVED.get(a, _PLAIN))
            for k in keys
            if (a := _attr(k, "lead__")) is not None
        ]
        self._reads += [(k, 1, a, _PLAIN) for k in keys if (a := _attr(k, "account__")) is not None]
        self._regexes = [
            (key, source, fullmatcher(regex)) for key, (source, regex) in (regexes or {}).items()
        ]
        self._zero = {f"adjustments__{name}": 0 for name in book.scores}
        self._no_adjustments = {name: 0.0 for name in book.scores}
        self._horizon = micros(book.lookback_days if lookback_days is None else lookback_days)
        self._windows = windows
        self._heads: dict[str, str] = {}
        """Type → the start of its activity facts' JSON, up to the age."""

    def build(self, inp: EvaluationInput, sid: str | None = None) -> Facts:
        """The facts of ``inp``; with ``sid``, also each activity fact's engine JSON (``id``:
        its index in ``recent``) and the newest age per type."""
        lead, account, now = inp.lead, inp.account, inp.now
        sources = (lead.__dict__, account.__dict__)  # pydantic models keep their fields there
        subject: dict[str, Any] = {}
        for key, source, attr, how in self._reads:
            if how == _PLAIN:
                value = sources[source].get(attr)
            elif how == _DOMAIN:
                if "@" not in lead.email:
                    continue
                value = lead.email.rsplit("@", 1)[1].lower()
            else:
                if lead.created_at is None:
                    continue
                value = (now - lead.created_at) / _DAY
            if value is None:
                continue
            kind = type(value)
            if kind is float or (kind is int and not -_BIG <= value <= _BIG):
                value = number(value)
            subject[key] = value
        for key, source_key, fullmatch in self._regexes:
            text = subject.get(source_key)
            subject[key] = isinstance(text, str) and fullmatch(text)
        if inp.adjustments:
            adjustments = applicable_adjustments(self.book, inp)
            for name, delta in adjustments.items():
                subject[f"adjustments__{name}"] = number(delta)
        else:
            adjustments = dict(self._no_adjustments)
            subject.update(self._zero)
        horizon, windows = self._horizon, self._windows
        recent: list[tuple[int, str]] = []
        ahead: list[tuple[int, str]] = []
        for act in inp.activities:
            # Exact integer microseconds (datetime's resolution): window edges are exact and an
            # activity dated after ``now``, even by 1 µs, never counts. (The sum is what
            # ``delta // timedelta(microseconds=1)`` computes, without its big-integer steps.)
            fields = act.__dict__  # pydantic keeps fields there; one attribute lookup, not two
            delta = now - fields["occurred_at"]
            age = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
            kind_ = fields["type"]
            if 0 <= age <= (horizon if windows is None else windows.get(kind_, -1)):
                recent.append((age, kind_))
            elif age < 0:
                ahead.append((age, kind_))
        recent.sort(key=_first)
        facts = Facts(subject, None, adjustments, recent=recent, ahead=ahead)
        if sid is not None:
            facts.texts, facts.newest = self._texts(recent, sid)
        return facts

    def _texts(self, recent: list[tuple[int, str]], sid: str) -> tuple[list[str], dict[str, int]]:
        """Activity facts as engine JSON, written directly (flat: integers and type names)."""
        heads = self._heads
        ranks: dict[str, int] = {}
        newest: dict[str, int] = {}
        texts = []
        for i, (age, kind) in enumerate(recent):
            rank = ranks.get(kind)
            if rank is None:
                rank = ranks[kind] = 1
                newest[kind] = age
            else:
                rank = ranks[kind] = rank + 1
            head = heads.get(kind)
            if head is None:
                quoted = json.dumps(kind, ensure_ascii=False)
                head = heads[kind] = f'{{"k":"{ACTIVITY}","type":{quoted},"age":'
            texts.append(f'{head}{age},"t":{-age},"rank":{rank},"id":{i},"sid":"{sid}"}}')
        return texts, newest


def _attr(key: str, prefix: str) -> str | None:
    return key[len(prefix) :] if key.startswith(prefix) else None


_BIG = int(limits.MAX_ABS_NUMBER)


_ALL_KEYS = frozenset(
    [f"lead__{k}" for k in LEAD_FIELDS] + [f"account__{k}" for k in ACCOUNT_FIELDS]
)


_MICROSECOND = timedelta(microseconds=1)
_DAY = timedelta(days=1)


_first = itemgetter(0)
_PLAIN, _DOMAIN, _AGE = 0, 1, 2
_DERIVED = {"email_domain": _DOMAIN, "age_days": _AGE}
