"""Semantic checks that a JSON Schema cannot express.

Unknown fields and operators (with suggestions), type mismatches, duplicate rule names,
unreachable stages, routes that can assign nobody, unsupported regexes, and the engine limits
of DESIGN.md §4 — all before anything is compiled.
"""

from __future__ import annotations

from collections import Counter

from rules import conditions as c
from rules import limits
from rules import validate_flow as flow
from rules.catalogue import ACTIVITY_TYPES, OPERATORS_BY_TYPE, field_catalogue
from rules.errors import RuleFileError
from rules.regex import regex_problem
from rules.rulebook import Rulebook
from rules.suggest import suggest
from rules.validate_common import err as _err
from rules.validate_common import rules_with_conditions
from rules.validate_limits import engine_limit_errors


def semantic_errors(book: Rulebook) -> list[RuleFileError]:
    """Every semantic error of a schema-valid rulebook; engine limits only when all else is fine."""
    errors: list[RuleFileError] = []
    errors += _duplicates(book)
    errors += _scores_and_signals(book)
    errors += flow.stages_errors(book)
    errors += flow.routing_errors(book)
    errors += flow.sla_errors(book)
    errors += flow.working_time_errors(book)
    errors += flow.feedback_errors(book)
    errors += flow.reasons_errors(book)
    errors += flow.examples_errors(book)
    if not errors:
        errors += engine_limit_errors(book)
    return errors


def _duplicates(book: Rulebook) -> list[RuleFileError]:
    errors = []
    seen: dict[str, c.Loc] = {}
    named = [(n, loc) for n, _, _, loc in rules_with_conditions(book)]
    named += [(f.name, f.loc) for f in book.feedback]
    for name, loc in named:
        if name in seen:
            first = seen[name]
            errors.append(
                _err(
                    loc,
                    name,
                    f"duplicate rule name `{name}`",
                    f"first defined at {first.file}:{first.line}",
                )
            )
        else:
            seen[name] = loc
    examples = Counter(e.name for e in book.examples)
    for e in book.examples:
        if examples[e.name] > 1:
            errors.append(_err(e.loc, e.name, f"duplicate example name `{e.name}`"))
            examples[e.name] = 0
    return errors


def _conditions(book: Rulebook, rule: str, cond: c.Condition, signal: bool) -> list[RuleFileError]:
    errors = []
    catalogue = field_catalogue(list(book.scores))
    for node in c.walk(cond):
        if isinstance(node, c.Compare):
            ftype = catalogue.get(node.field)
            if ftype is None:
                errors.append(
                    _err(
                        node.loc,
                        rule,
                        f"unknown field `{node.field}`",
                        suggest(node.field, list(catalogue)),
                    )
                )
                continue
            if signal and node.field.startswith("scores."):
                errors.append(
                    _err(
                        node.loc,
                        rule,
                        "signals cannot test scores (they compute them)",
                        "move it to qualification",
                    )
                )
            if node.op not in OPERATORS_BY_TYPE[ftype]:
                ok = sorted(OPERATORS_BY_TYPE[ftype])
                errors.append(
                    _err(
                        node.loc,
                        rule,
                        f"operator `{node.op}` does not apply to {ftype} field `{node.field}`",
                        f"use one of: {', '.join(ok)}",
                    )
                )
                continue
            values = node.value if isinstance(node.value, tuple) else (node.value,)
            if node.op in ("in", "not_in") and not values:
                errors.append(
                    _err(node.loc, rule, f"empty `{node.op}` list: the test can never match")
                )
            if len(values) > limits.MAX_CONDITIONS_PER_NODE:
                errors.append(
                    _err(
                        node.op_loc or node.loc,
                        rule,
                        f"`{node.op}` list of {len(values)} values; one engine pattern holds at "
                        f"most {limits.MAX_CONDITIONS_PER_NODE} tests (each value is one)",
                        "split the list across rules, or test a shorter field (e.g. a segment)",
                    )
                )
                continue
            if node.op == "matches":
                problem = regex_problem(str(node.value))
                if problem:
                    errors.append(_err(node.loc, rule, problem))
                continue
            for v in values:
                if v is None:
                    continue
                vtype = (
                    "boolean"
                    if isinstance(v, bool)
                    else "string"
                    if isinstance(v, str)
                    else "number"
                )
                if vtype != ftype:
                    errors.append(
                        _err(
                            node.loc,
                            rule,
                            f"type mismatch: `{node.field}` is a {ftype}, {v!r} is a {vtype}",
                            "quote numbers compared with text fields"
                            if ftype == "string"
                            else "remove the quotes",
                        )
                    )
                elif (
                    vtype == "number"
                    and isinstance(v, int | float)
                    and (
                        abs(v) >= limits.MAX_ABS_NUMBER
                        or (v != 0 and abs(v) < limits.MIN_ABS_FRACTION)
                    )
                ):
                    errors.append(
                        _err(
                            node.loc,
                            rule,
                            f"number {v!r} is out of the engine's range",
                            "scale the value",
                        )
                    )
        elif isinstance(node, c.ActivityCount | c.Sequence):
            types = [node.type] if isinstance(node, c.ActivityCount) else [node.first, node.then]
            for t in types:
                if t not in ACTIVITY_TYPES:
                    errors.append(
                        _err(
                            node.loc,
                            rule,
                            f"unknown activity type `{t}`",
                            suggest(t, ACTIVITY_TYPES, "types"),
                        )
                    )
        elif isinstance(node, c.AnyOf) and not node.items:
            errors.append(_err(node.loc, rule, "empty `any`: the condition can never be true"))
    return errors


def _scores_and_signals(book: Rulebook) -> list[RuleFileError]:
    errors = []
    for name, s, cond, loc in ((s.name, s, s.when, s.loc) for s in book.signals):
        if s.score not in book.scores:
            errors.append(
                _err(
                    loc,
                    name,
                    f"unknown score `{s.score}`",
                    suggest(s.score, list(book.scores), "scores"),
                )
            )
        if s.per_activity:
            acts = [n for n in c.walk(cond) if isinstance(n, c.ActivityCount | c.Sequence)]
            top = cond.items if isinstance(cond, c.AllOf) else (cond,)
            if (
                len(acts) != 1
                or acts[0] not in top
                or not isinstance(acts[0], c.ActivityCount)
                or acts[0].at_least != 1
            ):
                errors.append(
                    _err(
                        loc,
                        name,
                        "`per_activity` needs exactly one `activity` (at_least 1) "
                        "at the top of `when`",
                    )
                )
        errors += _conditions(book, name, cond, signal=True)
    for name, section, cond, _ in rules_with_conditions(book):
        if section != "signals":
            errors += _conditions(book, name, cond, signal=False)
    for score in book.scores.values():
        if score.floor >= score.cap:
            errors.append(_err(score.loc, score.name, "score floor must be below its cap"))
    return errors
