"""Feedback rules: patterns of sales feedback → bounded, expiring targeting adjustments.

The engine decides which rule fires for which segment/campaign: each event fact carries its rank
among events of the same (type[, reason], group value), newest first, so "at least N in D days"
is the single-fact test ``rank == N and age <= D``. Python only names the causing events.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from rules.compiler import number, seconds
from rules.engine import EngineRuleset
from rules.models import FeedbackEvent, TargetingAdjustment
from rules.rulebook import FeedbackRule, Rulebook

_FEEDBACK = "f"
_MARKER = "z"


def _rank_key(rule: FeedbackRule) -> str:
    return f"r_{rule.group_by[0]}{'_r' if rule.reason else ''}"


def feedback_definition(book: Rulebook) -> dict[str, Any]:
    definition: dict[str, Any] = {}
    for i, rule in enumerate(book.feedback):
        tests: list[dict[str, Any]] = [{"k": _FEEDBACK}, {"type": rule.type}]
        if rule.reason:
            tests.append({"reason": rule.reason})
        if rule.only is not None:
            tests.append({rule.group_by: rule.only})
        tests.append({"$ex": {rule.group_by: 1}})
        tests.append({_rank_key(rule): rule.at_least})
        tests.append({"$lte": {"age": seconds(rule.within_days)}})
        definition[f"f{i}"] = {"all": [{"m": {"$and": tests}}]}
    definition["zz"] = {"all": [{"m": {"k": _MARKER}}], "pri": 1_000_000}
    return definition


class FeedbackEvaluator:
    """The feedback rules of one rulebook, registered in this process's engine."""

    def __init__(self, book: Rulebook) -> None:
        self.book = book
        self.ruleset = EngineRuleset(f"leadgate_fb_{book.version[:12]}", feedback_definition(book))

    def close(self) -> None:
        self.ruleset.close()

    def evaluate(self, events: list[FeedbackEvent], now: datetime) -> list[TargetingAdjustment]:
        """Adjustments the feedback rules produce for ``events`` as of ``now``."""
        facts = _facts(events, now)
        sid = self.ruleset.new_sid()
        for i, fact in enumerate(facts):
            fact["n"], fact["sid"] = i, sid
        try:
            payload = [*facts, {"k": _MARKER, "n": -1, "sid": sid}]
            fired = self.ruleset.assert_facts(json.dumps(payload, ensure_ascii=False))
        finally:
            self.ruleset.delete(sid)
        out: list[TargetingAdjustment] = []
        seen: set[tuple[str, str]] = set()
        for engine_name, message in fired:
            if not engine_name.startswith("f"):
                continue
            rule = self.book.feedback[int(engine_name[1:])]
            group = json.loads(message)[engine_name]["m"][rule.group_by]
            if (rule.name, group) in seen:
                continue
            seen.add((rule.name, group))
            out.append(_adjustment(rule, group, events, now))
        order = {r.name: i for i, r in enumerate(self.book.feedback)}
        return sorted(out, key=lambda a: (order[a.rule], a.scope_value))


def _facts(events: list[FeedbackEvent], now: datetime) -> list[dict[str, Any]]:
    newest_first = sorted(
        (e for e in events if e.occurred_at <= now),
        key=lambda e: (now - e.occurred_at, e.feedback_id),
    )
    counters: dict[tuple[Any, ...], int] = {}
    facts = []
    for e in newest_first:
        fact: dict[str, Any] = {"k": _FEEDBACK, "type": e.type}
        fact["age"] = number(int((now - e.occurred_at).total_seconds()))
        if e.reason is not None:
            fact["reason"] = e.reason
        for group in ("segment", "campaign"):
            value = getattr(e, group)
            if value is None:
                continue
            fact[group] = value
            for with_reason in (False, True):
                key = (group, with_reason, e.type, e.reason if with_reason else None, value)
                counters[key] = counters.get(key, 0) + 1
                fact[f"r_{group[0]}{'_r' if with_reason else ''}"] = counters[key]
        facts.append(fact)
    return facts


def _adjustment(
    rule: FeedbackRule, group: str, events: list[FeedbackEvent], now: datetime
) -> TargetingAdjustment:
    since = now - timedelta(days=rule.within_days)
    causes = [
        e.feedback_id
        for e in events
        if e.type == rule.type
        and (rule.reason is None or e.reason == rule.reason)
        and getattr(e, rule.group_by) == group
        and since <= e.occurred_at <= now
    ]
    return TargetingAdjustment(
        rule=rule.name,
        score=rule.score,
        delta=rule.delta,
        scope="segment" if rule.group_by == "segment" else "campaign",
        scope_value=group,
        starts_at=now,
        expires_at=now + timedelta(days=rule.duration_days),
        caused_by=sorted(causes),
    )


def evaluate_feedback(
    book: Rulebook, events: list[FeedbackEvent], now: datetime
) -> list[TargetingAdjustment]:
    """One-shot feedback evaluation (registers and frees a ruleset)."""
    evaluator = FeedbackEvaluator(book)
    try:
        return evaluator.evaluate(events, now)
    finally:
        evaluator.close()
