"""Semantic checks of the lifecycle around the conditions: stages, routing, SLA, feedback,
reason codes and embedded examples."""

from __future__ import annotations

from collections import Counter

from rules import conditions as c
from rules.errors import RuleFileError
from rules.rulebook import Route, Rulebook
from rules.suggest import suggest
from rules.validate_common import err as _err

FEEDBACK_REASON_KIND = {"rejected": "reject", "disqualified": "disqualify", "recycled": "recycle"}
FEEDBACK_REASON_KIND["lost"] = "lost"


def _stage_ref(book: Rulebook, stage: str, loc: c.Loc, rule: str | None) -> list[RuleFileError]:
    if stage in book.stages.all:
        return []
    return [_err(loc, rule, f"unknown stage `{stage}`", suggest(stage, book.stages.all, "stages"))]


def stages_errors(book: Rulebook) -> list[RuleFileError]:
    st = book.stages
    errors = []
    listed = [(f"order.{i}", s) for i, s in enumerate(st.order)]
    listed += [(f"side.{i}", s) for i, s in enumerate(st.side)]
    seen: set[str] = set()
    for key, s in listed:
        if s in seen:
            errors.append(_err(st.at(key), None, f"stage `{s}` is listed twice"))
        seen.add(s)
    refs = [("initial", st.initial), *((f"manual.{i}", s) for i, s in enumerate(st.manual))]
    refs += [("handoff", st.handoff)] if st.handoff else []
    for key, s in refs:
        errors += _stage_ref(book, s, st.at(key), None)
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
    for s in st.all if st.initial in st.all else ():  # an unknown initial is the real error
        if s != st.initial and s not in st.manual and s not in targets:
            errors.append(
                _err(
                    st.where_listed(s),
                    None,
                    f"stage `{s}` is unreachable: no rule moves a lead there "
                    "and it is not `manual`",
                    "add a qualification rule to it or list it under `manual`",
                )
            )
    return errors


def routing_errors(book: Rulebook) -> list[RuleFileError]:
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
    for i, later in enumerate(r.routes):
        shadow = next((e for e in r.routes[:i] if _covers(e, later)), None)
        if shadow is None:
            continue
        pool = _pool(shadow)
        same = (shadow.territory, shadow.segment) == (later.territory, later.segment)
        errors.append(
            _err(
                later.loc,
                later.name,
                f"route can assign nobody: `{shadow.name}` always wins "
                + (
                    "with the same pool"
                    if same
                    else f"(no `when`, and its pool {pool} holds "
                    f"every rep of this route's pool {_pool(later)})"
                ),
                f"move `{later.name}` above `{shadow.name}`, or give `{shadow.name}` a `when`",
            )
        )
    return errors


def _covers(earlier: Route, later: Route) -> bool:
    """An unconditional earlier route whose pool includes every rep of the later one's pool.

    Routes are tried in file order and the first with an eligible rep wins, so such a later
    route can only be reached when the earlier pool has nobody free, and then neither has it.
    """
    if not (isinstance(earlier.when, c.AllOf) and not earlier.when.items):
        return False
    return (earlier.territory is None or earlier.territory == later.territory) and (
        earlier.segment is None or earlier.segment == later.segment
    )


def _pool(route: Route) -> str:
    parts = [f"territory {route.territory}"] if route.territory else []
    parts += [f"segment {route.segment}"] if route.segment else []
    return "(" + (", ".join(parts) or "everyone") + ")"


def sla_errors(book: Rulebook) -> list[RuleFileError]:
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
    for esc in sla.escalation.values():
        if esc.priority not in sla.priorities:
            errors.append(
                _err(
                    esc.loc,
                    None,
                    f"escalation for unknown priority `{esc.priority}`",
                    suggest(esc.priority, names, "priorities"),
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


def working_time_errors(book: Rulebook) -> list[RuleFileError]:
    """Calendars of territories that routing does not declare would never be used."""
    declared = book.routing.territories
    return [
        _err(
            cal.loc or c.NOWHERE,
            None,
            f"working time for undeclared territory `{name}`",
            suggest(name, declared, "territories"),
        )
        for name, cal in book.working_time.territories.items()
        if name not in declared
    ]


def feedback_errors(book: Rulebook) -> list[RuleFileError]:
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


def reasons_errors(book: Rulebook) -> list[RuleFileError]:
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


def examples_errors(book: Rulebook) -> list[RuleFileError]:
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
