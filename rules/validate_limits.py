"""Checks of what the engine can run: regexes, and the limits of DESIGN.md §4."""

from __future__ import annotations

from rules import conditions as c
from rules import limits
from rules.compiler import CompileError, compile_rulebook, count_tests
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
    # Per-fact pattern limits (error 303) and rules per ruleset are met by packing rules into
    # several engine rulesets (rules/packing.py); a rule that alone exceeds them raised
    # CompileError above.
    locs = {name: loc for name, _, _, loc in _rules_with_conditions(book)}
    errors = []
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


def _contains_loc(cond: c.Condition, loc: c.Loc) -> bool:
    return any(getattr(n, "loc", None) == loc for n in c.walk(cond))
