"""Split compiled engine rules across several durable_rules rulesets that receive the same facts.

durable_rules fails with error 303 when one fact matches more than about 64 distinct first-level
patterns of a ruleset (measured on 2.0.28: 64 pass, 65 fail; identical patterns count once;
patterns over another activity type or another subject fact do not count). That limit, not the
number of rules, is what bounds a rulebook. Packing keeps every ruleset under
:data:`rules.limits.MAX_PATTERNS_PER_FACT` for every kind of fact, so a rulebook of any realistic
size compiles to enough rulesets; only a single rule above the limit on its own is refused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from rules import limits

JSON = dict[str, Any]


def fact_kind(test: Any) -> str:
    """Which facts a pattern can match: ``s1``/``s2`` (subject) or ``a:<type>`` (activity)."""
    tests = test.get("$and", [test]) if isinstance(test, dict) else []
    kind = type_ = None
    for item in tests:
        if isinstance(item, dict):
            kind = item.get("k", kind)
            type_ = item.get("type", type_)
    if type_ is not None:
        return f"a:{type_}"
    return str(kind)


def patterns_by_kind(rule: JSON) -> dict[str, set[str]]:
    """The distinct first-level patterns of one engine rule, per kind of fact."""
    out: dict[str, set[str]] = {}
    for pattern in rule["all"]:
        for alias, test in pattern.items():
            key = json.dumps({alias: test}, sort_keys=True)
            out.setdefault(fact_kind(test), set()).add(key)
    return out


@dataclass
class _Bin:
    rules: dict[str, JSON] = field(default_factory=dict)
    patterns: dict[str, set[str]] = field(default_factory=dict)

    def fits(self, wanted: dict[str, set[str]], limit: int) -> bool:
        if len(self.rules) >= limits.MAX_RULES_PER_RULESET:
            return False
        return all(len(self.patterns.get(k, set()) | keys) <= limit for k, keys in wanted.items())

    def add(self, name: str, rule: JSON, wanted: dict[str, set[str]]) -> None:
        self.rules[name] = rule
        for kind, keys in wanted.items():
            self.patterns.setdefault(kind, set()).update(keys)


class TooManyPatterns(Exception):
    """One engine rule alone matches one fact with more patterns than the engine allows."""

    def __init__(self, rule: str, kind: str, count: int) -> None:
        super().__init__(f"{rule}: {count} patterns over one {kind} fact")
        self.rule, self.kind, self.count = rule, kind, count


def pack(rules: dict[str, JSON], always: dict[str, JSON]) -> list[dict[str, JSON]]:
    """First-fit: rules in order into the first ruleset where every fact kind stays within the
    limit. ``always`` (the catch-all rules) goes into every ruleset."""
    limit = limits.MAX_PATTERNS_PER_FACT
    base: dict[str, set[str]] = {}
    for rule in always.values():
        for kind, keys in patterns_by_kind(rule).items():
            base.setdefault(kind, set()).update(keys)
    bins: list[_Bin] = []
    for name, rule in rules.items():
        wanted = patterns_by_kind(rule)
        for kind, keys in wanted.items():
            if len(keys | base.get(kind, set())) > limit:
                raise TooManyPatterns(name, kind, len(keys))
        target = next((b for b in bins if b.fits(wanted, limit)), None)
        if target is None:
            target = _Bin(patterns={k: set(v) for k, v in base.items()})
            bins.append(target)
        target.add(name, rule, wanted)
    if not bins:
        bins.append(_Bin())
    return [{**b.rules, **always} for b in bins]


def activity_types(part: dict[str, Any]) -> frozenset[str]:
    """Activity types some pattern of this engine ruleset tests (others are not sent to it)."""
    return frozenset(
        kind[2:]
        for rule in part.values()
        for pattern in rule["all"]
        for test in pattern.values()
        if (kind := fact_kind(test)).startswith("a:")
    )
