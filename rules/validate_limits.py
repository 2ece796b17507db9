"""Checks of what the engine can run: regexes, and the limits of DESIGN.md §4."""

from __future__ import annotations

import re

from rules import conditions as c
from rules import limits
from rules.compiler import CompileError, compile_rulebook, count_tests
from rules.errors import RuleFileError
from rules.rulebook import Rulebook
from rules.validate_common import err as _err
from rules.validate_common import rules_with_conditions as _rules_with_conditions


def check_regex(pattern: str) -> str | None:
    """Why ``pattern`` is not a usable regex (Python syntax, whole-value match), or None."""
    try:
        re.compile(pattern)
    except re.error as exc:
        return f"regex does not compile: {exc}"
    return None


def engine_limit_errors(book: Rulebook) -> list[RuleFileError]:
    try:
        compiled = compile_rulebook(book)
    except CompileError as exc:
        rule = next(
            (n for n, _, cond, _ in _rules_with_conditions(book) if _contains_loc(cond, exc.loc)),
            None,
        )
        return [_err(exc.loc, rule, exc.message, exc.suggestion)]
    errors = []
    for phase, what in (
        (1, "signals"),
        (2, "qualification, disqualification, routing and sla rules"),
    ):
        n = compiled.phase_count(phase) + 1
        if n > limits.MAX_FIRST_LEVEL_PER_PHASE:
            first = next(
                loc
                for _, s, _, loc in _rules_with_conditions(book)
                if (s == "signals") == (phase == 1)
            )
            errors.append(
                _err(
                    first,
                    None,
                    f"{what} compile to {n} engine rules matching the same fact; the engine fails "
                    f"above {limits.MAX_FIRST_LEVEL_PER_PHASE} (error 303)",
                    "merge rules with `in` lists or fewer `any` branches",
                )
            )
    if len(compiled.definition) > limits.MAX_RULES_PER_RULESET:
        errors.append(
            _err(
                c.Loc(book.root, 1, 1),
                None,
                f"more than {limits.MAX_RULES_PER_RULESET} engine rules",
            )
        )
    for name, definition in compiled.definition.items():
        for pattern in definition["all"]:
            for test in pattern.values():
                if count_tests(test) > limits.MAX_CONDITIONS_PER_NODE:
                    errors.append(
                        _err(
                            c.Loc(book.root, 1, 1),
                            compiled.rules[name].rule,
                            "too many tests in one node",
                        )
                    )
    return errors


def _contains_loc(cond: c.Condition, loc: c.Loc) -> bool:
    return any(getattr(n, "loc", None) == loc for n in c.walk(cond))
