"""Checks of what the engine can run: regexes, and the limits of DESIGN.md §4."""

from __future__ import annotations

import json
from typing import Any

from rules import conditions as c
from rules import limits
from rules.compiler import (
    SUBJECT_1,
    CompiledRulebook,
    CompileError,
    compile_rulebook,
    count_tests,
)
from rules.errors import RuleFileError
from rules.rulebook import Rulebook
from rules.validate_common import err as _err
from rules.validate_common import rules_with_conditions as _rules_with_conditions


def engine_limit_errors(book: Rulebook) -> list[RuleFileError]:
    try:
        compiled = compile_rulebook(book)
    except CompileError as exc:
        rule = next(
            (n for n, _, cond, _ in _rules_with_conditions(book) if _contains_loc(cond, exc.loc)),
            None,
        )
        return [_err(exc.loc, rule, exc.message, exc.suggestion)]
    locs = {name: loc for name, _, _, loc in _rules_with_conditions(book)}
    errors = [
        _err(
            locs[rule],
            rule,
            f"{count} distinct engine patterns can match one {fact} (identical patterns count "
            f"once; every rule adds one, an `any` over activities one per branch); durable_rules "
            f"fails with error 303 when one fact matches more than 64, so at most "
            f"{limits.MAX_FIRST_LEVEL_PER_PHASE} are allowed",
            "merge rules with `in` lists, reuse the same window for the same activity, "
            "or use fewer `any` branches",
        )
        for fact, count, rule in _pattern_counts(compiled)
        if count > limits.MAX_FIRST_LEVEL_PER_PHASE
    ]
    if len(compiled.definition) > limits.MAX_RULES_PER_RULESET:
        rule = list(compiled.rules.values())[limits.MAX_RULES_PER_RULESET].rule
        errors.append(
            _err(
                locs[rule],
                rule,
                f"the rulebook compiles to {len(compiled.definition)} engine rules; at most "
                f"{limits.MAX_RULES_PER_RULESET} are allowed (this rule is past the limit)",
            )
        )
    for name, definition in compiled.definition.items():
        rule = compiled.rules[name].rule if name in compiled.rules else None
        for pattern in definition["all"]:
            for test in pattern.values():
                if rule is not None and count_tests(test) > limits.MAX_CONDITIONS_PER_NODE:
                    errors.append(
                        _err(
                            locs[rule],
                            rule,
                            f"{count_tests(test)} tests in one engine pattern; at most "
                            f"{limits.MAX_CONDITIONS_PER_NODE}",
                        )
                    )
    return errors


def _pattern_counts(compiled: CompiledRulebook) -> list[tuple[str, int, str]]:
    """Per fact kind: (what, distinct patterns that can match it, rule that crossed the limit).

    What durable_rules counts is the first-level patterns one fact matches; identical patterns
    share one node. The subject facts of round 1 and 2 and each activity type are counted apart
    (a pattern names the type it matches); the catch-all rules count too.
    """
    seen: dict[str, set[str]] = {}
    crossing: dict[str, str] = {}
    # Catch-alls first, so that the rule that crosses the limit is a rule of the file.
    for name, definition in sorted(
        compiled.definition.items(), key=lambda i: i[0] in compiled.rules
    ):
        owner = compiled.rules[name].rule if name in compiled.rules else None
        for pattern in definition["all"]:
            for alias, test in pattern.items():
                fact = _fact_kind(alias, test)
                keys = seen.setdefault(fact, set())
                keys.add(json.dumps(test, sort_keys=True))
                if len(keys) > limits.MAX_FIRST_LEVEL_PER_PHASE and owner and fact not in crossing:
                    crossing[fact] = owner
    return [(fact, len(seen[fact]), rule) for fact, rule in crossing.items()]


def _fact_kind(alias: str, test: Any) -> str:
    if alias == "m":
        text = json.dumps(test)
        return (
            "lead fact in round 1 (signals)"
            if f'"{SUBJECT_1}"' in text
            else ("lead fact in round 2 (stage, routing and SLA rules)")
        )
    kinds = [t["type"] for t in test.get("$and", []) if isinstance(t, dict) and "type" in t]
    return f"`{kinds[0]}` activity" if kinds else "activity"


def _contains_loc(cond: c.Condition, loc: c.Loc) -> bool:
    return any(getattr(n, "loc", None) == loc for n in c.walk(cond))
