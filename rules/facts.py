"""Turn an :class:`EvaluationInput` into strictly typed engine facts.

Facts are flat, numbers are normalised (no exponent form), missing values are omitted (so
``exists``/``missing`` work), and every fact carries a unique ``n`` so that asserting two equal
activities never raises ``MessageObservedException`` (DESIGN.md §4).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
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
        # (key, attribute, how) of lead fields, then (key, attribute) of account fields: read
        # in this order.
        self._lead_reads = [
            (k, a, _DERIVED.get(a, _PLAIN)) for k in keys if (a := _attr(k, "lead__")) is not None
        ]
        self._account_reads = [(k, a) for k in keys if (a := _attr(k, "account__")) is not None]
        self._regexes = [
            (key, source, fullmatcher(regex)) for key, (source, regex) in (regexes or {}).items()
        ]
        self._zero = {f"adjustments__{name}": 0 for name in book.scores}
        self._no_adjustments = {name: 0.0 for name in book.scores}
        self._horizon = micros(book.lookback_days if lookback_days is None else lookback_days)
        self._windows = windows
        self._span = _span(self._horizon)
        self._spans = {kind: _span(window) for kind, window in (windows or {}).items()}
        """Type → its window as a timedelta (None if it has none: not a timedelta)."""
        self._cutoffs: dict[str, datetime | None] = {}
        """Type → ``now - window`` for ``_cutoffs_now`` (wall clock in ``_cutoffs_tz``)."""
        self._cutoffs_now: datetime | None = None
        self._cutoffs_tz: object = _UNSET
        self._heads: dict[str, str] = {}
        """Type → the start of its activity facts' JSON, up to the age."""

    def build(self, inp: EvaluationInput, sid: str | None = None) -> Facts:
        """The facts of ``inp``; with ``sid``, also each activity fact's engine JSON (``id``:
        its index in ``recent``) and the newest age per type."""
        lead, account, now = inp.lead, inp.account, inp.now
        fields = lead.__dict__  # pydantic models keep their fields there
        subject: dict[str, Any] = {}
        for key, attr, how in self._lead_reads:
            if how == _PLAIN:
                value = fields.get(attr)
                if value is None:
                    continue
            elif how == _DOMAIN:
                email = lead.email
                if "@" not in email:
                    continue
                value = email.rsplit("@", 1)[1].lower()
            else:
                if lead.created_at is None:
                    continue
                value = (now - lead.created_at) / _DAY
            if type(value) is not str:
                value = _number(value)
            subject[key] = value
        fields = account.__dict__
        for key, attr in self._account_reads:
            value = fields.get(attr)
            if value is not None:
                subject[key] = value if type(value) is str else _number(value)
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
        tz = now.tzinfo
        cutoffs = self._cutoffs
        if now.tzinfo is not self._cutoffs_tz or now != self._cutoffs_now:
            # a bulk job evaluates every lead at the same ``now``: made once per job
            cutoffs = self._cutoffs = {}
            self._cutoffs_now, self._cutoffs_tz = now, tz
        for act in inp.activities:
            fields = act.__dict__  # pydantic keeps fields there; one attribute lookup, not two
            occurred = fields["occurred_at"]
            kind_ = fields["type"]
            if occurred.tzinfo is tz:
                # Most activities are too old for every window of their type: skipped by one
                # comparison with ``now - window`` (made once per type and lead). Exact: with
                # the same tzinfo object, comparing and subtracting are both the same
                # wall-clock arithmetic in µs, so ``occurred < now - window`` is
                # ``age > window``: not recent, and not ahead (window ≥ -1).
                cutoff = cutoffs.get(kind_, _UNSET)
                if cutoff is _UNSET:
                    cutoff = cutoffs[kind_] = self._cutoff(now, kind_)
                if cutoff is not None and occurred < cutoff:
                    continue
            # Exact integer microseconds (datetime's resolution): window edges are exact and an
            # activity dated after ``now``, even by 1 µs, never counts. (The sum is what
            # ``delta // timedelta(microseconds=1)`` computes, without its big-integer steps.)
            delta = now - occurred
            age = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
            if 0 <= age <= (horizon if windows is None else windows.get(kind_, -1)):
                recent.append((age, kind_))
            elif age < 0:
                ahead.append((age, kind_))
        recent.sort(key=_first)
        facts = _new_facts(Facts)  # what Facts(...) makes, without its keyword call
        facts.subject, facts._activities, facts.adjustments = subject, None, adjustments
        facts.recent, facts.ahead = recent, ahead
        if sid is not None:
            facts.texts, facts.newest = self._texts(recent, sid)
        else:
            facts.texts, facts.newest = [], {}
        return facts

    def _cutoff(self, now: datetime, kind: str) -> datetime | None:
        """``now`` minus the window of ``kind`` (at least -1 µs), or None if out of range."""
        span = self._spans.get(kind, _NO_WINDOW) if self._windows is not None else self._span
        if span is None:
            return None
        try:
            return now - span
        except OverflowError:
            return None

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


def _span(window: int) -> timedelta | None:
    """A window in µs as a timedelta (at least -1 µs: an activity is never recent at a negative
    age), or None when it is out of timedelta's range."""
    try:
        return timedelta(microseconds=max(window, -1))
    except OverflowError:
        return None


def _number(value: Any) -> Any:
    """A field value as the engine gets it: floats and huge integers made engine numbers."""
    kind = type(value)
    if kind is float or (kind is int and not -_BIG <= value <= _BIG):
        return number(value)
    return value


_NO_WINDOW = timedelta(microseconds=-1)
"""A type no rule looks at: no age is recent (window -1)."""
_UNSET = object()


def _attr(key: str, prefix: str) -> str | None:
    return key[len(prefix) :] if key.startswith(prefix) else None


_BIG = int(limits.MAX_ABS_NUMBER)


_ALL_KEYS = frozenset(
    [f"lead__{k}" for k in LEAD_FIELDS] + [f"account__{k}" for k in ACCOUNT_FIELDS]
)


_MICROSECOND = timedelta(microseconds=1)
_DAY = timedelta(days=1)


_first = itemgetter(0)
_new_facts = object.__new__
_PLAIN, _DOMAIN, _AGE = 0, 1, 2
_DERIVED = {"email_domain": _DOMAIN, "age_days": _AGE}
