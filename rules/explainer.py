"""Why a rule did not fire: the same conditions evaluated in Python, with actual vs required.

The semantics mirror the compiled engine rules exactly (comparisons on a missing field are false,
regexes match the whole string, activity windows count asserted activities); a hypothesis
property test checks that both agree on generated leads.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from rules import conditions as c
from rules.encoding import fact_field, micros, number
from rules.models import FailedCondition
from rules.regex import Regex, compile_regex

_SYMBOL = {"eq": "=", "ne": "≠", "gt": ">", "gte": "≥", "lt": "<", "lte": "≤"}
_NEGATED = {"eq": "≠", "ne": "=", "gt": "≤", "gte": "<", "lt": "≥", "lte": ">"}
_MISSING = object()


@cache
def _regex(pattern: str, ignore_case: bool) -> Regex:
    return compile_regex(pattern, ignore_case)


def _lit(v: Any) -> Any:
    return v if isinstance(v, bool | str) else number(v)


def _eq(actual: Any, lit: Any) -> bool:
    if isinstance(lit, bool) or isinstance(actual, bool):
        return type(actual) is type(lit) and actual == lit
    if isinstance(lit, str) or isinstance(actual, str):
        return isinstance(actual, str) and isinstance(lit, str) and actual == lit
    return bool(actual == _lit(lit))


def compare(cmp: c.Compare, subject: dict[str, Any]) -> bool:
    actual = subject.get(fact_field(cmp.field), _MISSING)
    op = cmp.op
    if op == "exists":
        return actual is not _MISSING
    if op == "missing":
        return actual is _MISSING
    if actual is _MISSING:
        return False
    if op == "eq":
        return _eq(actual, cmp.value)
    if op == "ne":
        return not _eq(actual, cmp.value)
    if op == "in":
        return any(_eq(actual, v) for v in cmp.value or ())  # type: ignore[union-attr]
    if op == "not_in":
        return not any(_eq(actual, v) for v in cmp.value or ())  # type: ignore[union-attr]
    if op == "matches":
        pattern = _regex(str(cmp.value), cmp.ignore_case)
        return isinstance(actual, str) and pattern.fullmatch(actual) is not None
    if isinstance(actual, bool | str) or isinstance(cmp.value, bool | str | tuple | None):
        return False
    lit = _lit(cmp.value)
    if op == "gt":
        return bool(actual > lit)
    if op == "gte":
        return bool(actual >= lit)
    if op == "lt":
        return bool(actual < lit)
    return bool(actual <= lit)


def count_activities(a: c.ActivityCount, activities: list[dict[str, Any]]) -> int:
    limit = micros(a.within_days)
    return sum(1 for x in activities if x["type"] == a.type and x["age"] <= limit)


def sequence_holds(s: c.Sequence, activities: list[dict[str, Any]]) -> bool:
    first_limit, gap = micros(s.in_last_days), micros(s.within_days)
    firsts = [x["t"] for x in activities if x["type"] == s.first and x["age"] <= first_limit]
    thens = [x["t"] for x in activities if x["type"] == s.then]
    return any(t0 < t1 <= t0 + gap for t0 in firsts for t1 in thens)


def holds(cond: c.Condition, subject: dict[str, Any], activities: list[dict[str, Any]]) -> bool:
    """Plain-Python truth of a condition (also the baseline in the benchmark)."""
    if isinstance(cond, c.Compare):
        return compare(cond, subject)
    if isinstance(cond, c.AllOf):
        return all(holds(i, subject, activities) for i in cond.items)
    if isinstance(cond, c.AnyOf):
        return any(holds(i, subject, activities) for i in cond.items)
    if isinstance(cond, c.Not):
        return not holds(cond.item, subject, activities)
    if isinstance(cond, c.ActivityCount):
        return count_activities(cond, activities) >= cond.at_least
    return sequence_holds(cond, activities)


def _short(path: str) -> str:
    return path.split(".", 1)[1] if path.startswith("scores.") else path


def _show(v: Any) -> str:
    if isinstance(v, tuple):
        return "[" + ", ".join(_show(x) for x in v) + "]"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _failed_compare(cmp: c.Compare, subject: dict[str, Any], negated: bool) -> dict[str, str]:
    actual = subject.get(fact_field(cmp.field), _MISSING)
    shown = "missing" if actual is _MISSING else _show(actual)
    name = _short(cmp.field)
    op = cmp.op
    required = _show(cmp.value)
    if negated:
        msg = f"{name} is {shown}, which must not satisfy {op} {required}"
        return _failure(f"not ({cmp})", shown, f"not {op} {required}", msg)
    if op in ("exists", "missing"):
        msg = f"{name} is missing" if op == "exists" else f"{name} is set ({shown})"
        return _failure(str(cmp), shown, op, msg)
    if actual is _MISSING:
        msg = f"{name} is missing (need {op} {required})"
    elif op in _NEGATED:
        msg = f"{name} {shown} {_NEGATED[op]} {required}"
    elif op == "in":
        msg = f"{name} {shown} not in {required}"
    elif op == "not_in":
        msg = f"{name} {shown} is in {required}"
    else:
        msg = f"{name} {shown!r} does not match {required}"
    return _failure(str(cmp), shown, f"{op} {required}", msg)


def _failure(condition: str, actual: str, required: str, message: str) -> dict[str, str]:
    return {"condition": condition, "actual": actual, "required": required, "message": message}


def _check(
    cond: c.Condition, subject: dict[str, Any], acts: list[dict[str, Any]], neg: bool
) -> tuple[bool, list[dict[str, str]]]:
    """(holds after negation, failed leaves when it does not) in one pass."""
    if isinstance(cond, c.Not):
        return _check(cond.item, subject, acts, not neg)
    if isinstance(cond, c.AllOf | c.AnyOf):
        conjunctive = isinstance(cond, c.AllOf) != neg
        failed: list[dict[str, str]] = []
        for item in cond.items:
            ok, why = _check(item, subject, acts, neg)
            if ok and not conjunctive:
                return True, []
            failed.extend(why)
        if conjunctive:
            return not failed, failed
        return False, failed
    if holds(cond, subject, acts) != neg:
        return True, []
    if isinstance(cond, c.Compare):
        return False, [_failed_compare(cond, subject, neg)]
    if isinstance(cond, c.ActivityCount):
        n = count_activities(cond, acts)
        window = f"{cond.within_days:g} days"
        if neg:
            msg = f"{n} {cond.type} in {window} (must be fewer than {cond.at_least})"
            return False, [_failure(f"not ({cond})", str(n), f"< {cond.at_least}", msg)]
        if n == 0:
            msg = f"no {cond.type} in {window}"
        else:
            msg = f"{n} {cond.type} in {window}, need {cond.at_least}"
        return False, [_failure(str(cond), str(n), f"≥ {cond.at_least}", msg)]
    msg = f"no {cond.first} followed by {cond.then} within {cond.within_days:g} days"
    return False, [_failure(str(cond), "none", "a match", msg)]


def failures(
    cond: c.Condition, subject: dict[str, Any], activities: list[dict[str, Any]]
) -> list[dict[str, str]]:
    """Failed leaf conditions (as plain dicts) of a condition that does not hold."""
    return _check(cond, subject, activities, False)[1]


def explain(
    cond: c.Condition, subject: dict[str, Any], activities: list[dict[str, Any]]
) -> list[FailedCondition]:
    """Failed leaf conditions of a condition that does not hold (empty when it holds)."""
    return [FailedCondition.model_validate(f) for f in failures(cond, subject, activities)]
