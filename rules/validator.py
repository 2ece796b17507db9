"""Semantic checks that a JSON Schema cannot express.

Unknown fields and operators (with suggestions), type mismatches, duplicate rule names,
unreachable stages, routes that can assign nobody, unsupported regexes, and the engine limits
of DESIGN.md §4 — all before anything is compiled.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator

from rules import conditions as c
from rules import limits
from rules.catalogue import ACTIVITY_TYPES, OPERATORS_BY_TYPE, field_catalogue
from rules.compiler import CompileError, compile_rulebook, count_tests
from rules.errors import RuleFileError
from rules.loader import suggest
from rules.rulebook import Rulebook

FEEDBACK_REASON_KIND = {"rejected": "reject", "disqualified": "disqualify", "recycled": "recycle"}
FEEDBACK_REASON_KIND["lost"] = "lost"


def _err(loc: c.Loc, rule: str | None, msg: str, hint: str | None = None) -> RuleFileError:
    return RuleFileError(loc.file, loc.line, loc.column, rule, msg, hint)


def check_regex(pattern: str) -> str | None:
    """Why ``pattern`` is not a usable regex (Python syntax, whole-value match), or None."""
    try:
        re.compile(pattern)
    except re.error as exc:
        return f"regex does not compile: {exc}"
    return None


def semantic_errors(book: Rulebook) -> list[RuleFileError]:
    errors: list[RuleFileError] = []
    errors += _duplicates(book)
    errors += _scores_and_signals(book)
    errors += _stages(book)
    errors += _routing(book)
    errors += _sla(book)
    errors += _feedback(book)
    errors += _reasons(book)
    errors += _examples(book)
    if not errors:
        errors += _engine_limits(book)
    return errors


def _rules_with_conditions(book: Rulebook) -> Iterator[tuple[str, str, c.Condition, c.Loc]]:
    for s in book.signals:
        yield s.name, "signals", s.when, s.loc
    for t in book.transitions:
        yield t.name, t.section, t.when, t.loc
    for r in book.routing.routes:
        yield r.name, "routing", r.when, r.loc
    for p in book.sla.rules:
        yield p.name, "sla", p.when, p.loc


def _duplicates(book: Rulebook) -> list[RuleFileError]:
    errors = []
    seen: dict[str, c.Loc] = {}
    named = [(n, loc) for n, _, _, loc in _rules_with_conditions(book)]
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
            if node.op == "matches":
                problem = check_regex(str(node.value))
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
    for name, section, cond, _ in _rules_with_conditions(book):
        if section != "signals":
            errors += _conditions(book, name, cond, signal=False)
    for score in book.scores.values():
        if score.floor >= score.cap:
            errors.append(_err(score.loc, score.name, "score floor must be below its cap"))
    return errors


def _stage_ref(book: Rulebook, stage: str, loc: c.Loc, rule: str | None) -> list[RuleFileError]:
    if stage in book.stages.all:
        return []
    return [_err(loc, rule, f"unknown stage `{stage}`", suggest(stage, book.stages.all, "stages"))]


def _stages(book: Rulebook) -> list[RuleFileError]:
    st = book.stages
    errors = []
    dupes = [s for s, n in Counter(st.all).items() if n > 1]
    for s in dupes:
        errors.append(_err(st.loc, None, f"stage `{s}` is listed twice"))
    for s in (st.initial, *st.manual, *([st.handoff] if st.handoff else [])):
        errors += _stage_ref(book, s, st.loc, None)
    targets = set()
    for t in book.transitions:
        errors += _stage_ref(book, t.to, t.loc, t.name)
        for s in t.from_stages:
            errors += _stage_ref(book, s, t.loc, t.name)
        targets.add(t.to)
        if t.to in st.order:
            later = [
                s
                for s in t.from_stages
                if s in st.order and st.order.index(s) >= st.order.index(t.to)
            ]
            if later:
                errors.append(
                    _err(
                        t.loc,
                        t.name,
                        f"backward jump {later[0]} → {t.to}: stage transitions only move forward",
                        "recycle or disqualify with a reason instead",
                    )
                )
        elif t.reason is None:
            errors.append(_err(t.loc, t.name, f"moving to `{t.to}` needs a `reason`"))
        if t.reason is not None:
            kind = "disqualify" if t.to == "disqualified" else "recycle"
            codes = book.reason_codes(kind)
            if t.reason not in codes:
                errors.append(
                    _err(
                        t.loc,
                        t.name,
                        f"unknown {kind} reason `{t.reason}`",
                        suggest(t.reason, codes, "reasons"),
                    )
                )
    if (
        any(t.section == "disqualification" for t in book.transitions)
        and "disqualified" not in st.all
    ):
        errors.append(_err(st.loc, None, "disqualification rules need a `disqualified` stage"))
    for s in st.all:
        if s != st.initial and s not in st.manual and s not in targets:
            errors.append(
                _err(
                    st.loc,
                    None,
                    f"stage `{s}` is unreachable: no rule moves a lead there "
                    "and it is not `manual`",
                    "add a qualification rule to it or list it under `manual`",
                )
            )
    return errors


def _routing(book: Rulebook) -> list[RuleFileError]:
    r = book.routing
    errors = []
    for route in r.routes:
        if route.territory is not None and route.territory not in r.territories:
            errors.append(
                _err(
                    route.loc,
                    route.name,
                    f"route can assign nobody: territory `{route.territory}` is not declared",
                    suggest(route.territory, r.territories, "territories"),
                )
            )
        if route.segment is not None and route.segment not in r.segments:
            errors.append(
                _err(
                    route.loc,
                    route.name,
                    f"route can assign nobody: segment `{route.segment}` is not declared",
                    suggest(route.segment, r.segments, "segments"),
                )
            )
    for i, route in enumerate(r.routes):
        if isinstance(route.when, c.AllOf) and not route.when.items:
            for later in r.routes[i + 1 :]:
                if (later.territory, later.segment) == (route.territory, route.segment):
                    errors.append(
                        _err(
                            later.loc,
                            later.name,
                            f"route can assign nobody: `{route.name}` always wins "
                            "with the same pool",
                        )
                    )
    return errors


def _sla(book: Rulebook) -> list[RuleFileError]:
    sla = book.sla
    errors = []
    names = list(sla.priorities)
    for rule in sla.rules:
        if rule.priority not in sla.priorities:
            errors.append(
                _err(
                    rule.loc,
                    rule.name,
                    f"unknown priority `{rule.priority}`",
                    suggest(rule.priority, names, "priorities"),
                )
            )
    if sla.default is not None and sla.default not in sla.priorities:
        loc = sla.rules[0].loc if sla.rules else c.NOWHERE
        errors.append(
            _err(
                loc, None, f"unknown default priority `{sla.default}`", suggest(sla.default, names)
            )
        )
    return errors


def _feedback(book: Rulebook) -> list[RuleFileError]:
    errors = []
    for f in book.feedback:
        score = book.scores.get(f.score)
        if score is None:
            errors.append(
                _err(
                    f.loc,
                    f.name,
                    f"unknown score `{f.score}`",
                    suggest(f.score, list(book.scores), "scores"),
                )
            )
        elif abs(f.delta) > score.adjustment_bound:
            errors.append(
                _err(
                    f.loc,
                    f.name,
                    f"delta {f.delta:g} exceeds the bound ±{score.adjustment_bound:g} "
                    f"of score `{f.score}`",
                    "lower the delta or raise `adjustment_bound`",
                )
            )
        if f.reason is not None and f.type in FEEDBACK_REASON_KIND:
            codes = book.reason_codes(FEEDBACK_REASON_KIND[f.type])
            if f.reason not in codes:
                errors.append(
                    _err(
                        f.loc,
                        f.name,
                        f"unknown reason `{f.reason}`",
                        suggest(f.reason, codes, "reasons"),
                    )
                )
    return errors


def _reasons(book: Rulebook) -> list[RuleFileError]:
    errors = []
    for kind, codes in book.reasons.items():
        for code, n in Counter(codes).items():
            if n > 1:
                errors.append(
                    _err(
                        c.Loc(book.root, 1, 1), None, f"reason `{code}` listed twice under `{kind}`"
                    )
                )
    return errors


def _examples(book: Rulebook) -> list[RuleFileError]:
    errors = []
    names = set(book.rule_names())
    for e in book.examples:
        stage = e.expect.get("stage")
        if isinstance(stage, str) and stage not in book.stages.all:
            errors.append(
                _err(
                    e.loc,
                    e.name,
                    f"unknown stage `{stage}` in expect",
                    suggest(stage, book.stages.all),
                )
            )
        for score in e.expect.get("scores", {}):
            if score not in book.scores:
                errors.append(
                    _err(
                        e.loc,
                        e.name,
                        f"unknown score `{score}` in expect",
                        suggest(score, list(book.scores)),
                    )
                )
        for key in ("fired", "not_fired"):
            for rule in e.expect.get(key, []):
                if rule not in names:
                    errors.append(
                        _err(
                            e.loc,
                            e.name,
                            f"unknown rule `{rule}` in expect.{key}",
                            suggest(rule, sorted(names), "rules"),
                        )
                    )
    return errors


def _engine_limits(book: Rulebook) -> list[RuleFileError]:
    try:
        compiled = compile_rulebook(book)
    except CompileError as exc:
        rule = next(
            (n for n, _, cond, _ in _rules_with_conditions(book) if _contains_loc(cond, exc.loc)),
            None,
        )
        return [_err(exc.loc, rule, exc.message, exc.suggestion)]
    # Per-fact pattern limits (error 303) are met by packing rules into several engine
    # rulesets; a rule that alone exceeds them raised CompileError above.
    errors = []
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
