"""Failed conditions in words a RevOps person reads: "fit 37, needs 40: 3 points short".

Works from what the explainer reports (:class:`~rules.models.FailedCondition`: the condition as
written, actual, required) mapped back to the condition tree, so it reads the same whether the
explanation was computed at evaluation time or replayed on demand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rules import conditions as c
from rules.models import EvaluationResult, FailedCondition
from rules.rulebook import Rulebook

_OP_WORDS = {
    "gte": "at least",
    "gt": "more than",
    "lte": "at most",
    "lt": "less than",
    "eq": "",
    "ne": "anything but",
}
_ANY = r"\.\*"
_ALTS = r"\(?([^()|*+?\[\]\\]+(?:\|[^()|*+?\[\]\\]+)*)\)?"


@dataclass(frozen=True)
class ConditionGap:
    """One failed condition of a rule, in words."""

    condition: str
    """As written, e.g. ``scores.fit gte 40``."""
    message: str
    """e.g. ``fit 37, needs 40: 3 points short``."""
    score: str | None = None
    """The score this gap is about, when it is a score threshold."""
    short_by: float | None = None
    """Points missing to reach the threshold (score gaps)."""
    activity: str | None = None
    """The activity type this gap needs (activity patterns)."""


def leaves_by_text(cond: c.Condition) -> dict[str, c.Condition]:
    """Leaf conditions keyed the way the explainer names them (``x`` and ``not (x)``)."""
    out: dict[str, c.Condition] = {}
    for node in c.walk(cond):
        if isinstance(node, c.Compare | c.ActivityCount | c.Sequence):
            out[str(node)] = node
            out[f"not ({node})"] = node
    return out


def describe(
    failed: FailedCondition, leaf: c.Condition | None, book: Rulebook, result: EvaluationResult
) -> ConditionGap:
    """A failed condition in words (falls back to the explainer's message)."""
    negated = failed.condition.startswith("not (")
    if isinstance(leaf, c.Compare):
        return _compare(failed, leaf, negated, book, result)
    if isinstance(leaf, c.ActivityCount):
        window = f"in the last {_days(leaf.within_days)}"
        if negated:
            msg = f"{failed.actual} {leaf.type} {window} rule it out"
            return ConditionGap(failed.condition, msg)
        if failed.actual in ("0", ""):
            msg = f"no {leaf.type} {window}"
        else:
            msg = f"{failed.actual} {leaf.type} {window}, needs {leaf.at_least}"
        return ConditionGap(failed.condition, msg, activity=leaf.type)
    if isinstance(leaf, c.Sequence):
        msg = (
            f"no {leaf.first} followed by {leaf.then} within {_days(leaf.within_days)} "
            f"(in the last {_days(leaf.in_last_days)})"
        )
        return ConditionGap(failed.condition, msg, activity=leaf.then)
    return ConditionGap(failed.condition, failed.message)


def _compare(
    failed: FailedCondition,
    cmp: c.Compare,
    negated: bool,
    book: Rulebook,
    result: EvaluationResult,
) -> ConditionGap:
    name = cmp.field.split(".", 1)[1] if cmp.field.startswith("scores.") else cmp.field
    if cmp.field == "lead.stage" and cmp.op == "in" and isinstance(cmp.value, tuple):
        allowed = ", ".join(map(str, cmp.value))
        msg = f"the lead is {failed.actual}; this rule only moves leads from {allowed}"
        return ConditionGap(failed.condition, msg)
    wanted = _wanted(cmp)
    if negated:
        return ConditionGap(failed.condition, f"{name} is {failed.actual}: must not be {wanted}")
    if failed.actual == "missing":
        return ConditionGap(failed.condition, f"{name} is unknown, needs {wanted}")
    score = book.scores.get(name) if cmp.field.startswith("scores.") else None
    if score is not None and cmp.op in ("gte", "gt") and isinstance(cmp.value, int | float):
        value = result.scores[name].value
        short = round(float(cmp.value) - value, 4)
        needs = f"needs {_num(cmp.value)}" if cmp.op == "gte" else f"needs more than {cmp.value}"
        unit = "point" if short == 1 else "points"
        tail = f": {_num(short)} {unit} short" if cmp.op == "gte" else ""
        decays = (
            f" ({name} decays: half-life {_num(score.half_life_days)} days)"
            if score.half_life_days
            else ""
        )
        msg = f"{name} {_num(value)}, {needs}{tail}{decays}"
        return ConditionGap(failed.condition, msg, score=name, short_by=max(short, 0.0))
    return ConditionGap(failed.condition, f"{name} is {failed.actual}, needs {wanted}")


def _wanted(cmp: c.Compare) -> str:
    if cmp.op == "matches":
        return regex_in_words(str(cmp.value), cmp.ignore_case)
    if cmp.op in ("in", "not_in") and isinstance(cmp.value, tuple):
        values = ", ".join(map(str, cmp.value))
        return f"one of {values}" if cmp.op == "in" else f"none of {values}"
    if cmp.op in ("exists", "missing"):
        return "set" if cmp.op == "exists" else "unset"
    words = _OP_WORDS.get(cmp.op, cmp.op)
    return f"{words} {_num(cmp.value)}".strip()


def regex_in_words(pattern: str, ignore_case: bool) -> str:
    """``.*(vp|chief).*`` → ``to contain "vp" or "chief" (any case)``; raw when not simple."""
    case = " (any case)" if ignore_case else ""
    for shape, verb in (
        (rf"{_ANY}{_ALTS}{_ANY}", "to contain"),
        (rf"{_ALTS}{_ANY}", "to start with"),
        (rf"{_ANY}{_ALTS}", "to end with"),
    ):
        m = re.fullmatch(shape, pattern)
        if m and not re.search(r"[.^$]", m.group(1)):
            words = [f'"{w}"' for w in m.group(1).split("|")]
            joined = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]
            return f"{verb} {joined}{case}"
    return f"to match the pattern `{pattern}`{case}"


def _num(v: object) -> str:
    """Numbers as people write them: ``37``, ``22.9`` (one decimal is enough to act on)."""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, float):
        return f"{v:.1f}".rstrip("0").rstrip(".")
    return str(v)


def _days(days: float) -> str:
    return f"{_num(days)} day" + ("" if days == 1 else "s")
