"""Warnings: rules that are valid but cannot do what their author meant.

A warning does not stop the rulebook from loading; ``leadgate rules check`` prints it. Two kinds:

- two tests of one conjunction that no lead can satisfy together (``gte 500`` and ``lt 200``,
  ``eq US`` and ``in [DE, FR]``, ``exists`` and ``missing``, an activity required and forbidden
  over a wider window): the rule can never fire. Pairs are checked, which is complete for
  numeric ranges and catches the usual mistakes with lists.
- a feedback rule whose adjustment expires before its evidence leaves the window.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from rules import conditions as c
from rules.errors import RuleFileError
from rules.rulebook import Rulebook
from rules.validate_common import err, rules_with_conditions

_INF = math.inf
Interval = tuple[float, bool, float, bool]
"""low, low is strict, high, high is strict."""


def warnings(book: Rulebook) -> list[RuleFileError]:
    """Every warning of a valid rulebook, in file order."""
    out: list[RuleFileError] = []
    for name, section, cond, _ in rules_with_conditions(book):
        out += _contradictions(name, section, cond)
    for f in book.feedback:
        if f.duration_days < f.within_days:
            out.append(
                err(
                    f.loc,
                    f.name,
                    f"the adjustment lasts {f.duration_days:g} days, less than the "
                    f"{f.within_days:g}-day feedback window: it ends while the feedback behind "
                    "it still counts, and that feedback is never used again",
                    f"make `duration_days` at least `within_days` ({f.within_days:g})",
                )
            )
    return out


def _conjuncts(cond: c.Condition) -> Iterator[c.Condition]:
    """Leaves that must all hold for ``cond`` to hold (through ``all`` only)."""
    if isinstance(cond, c.AllOf):
        for item in cond.items:
            yield from _conjuncts(item)
    else:
        yield cond


def _contradictions(name: str, section: str, cond: c.Condition) -> list[RuleFileError]:
    out = []
    leaves = list(_conjuncts(cond))
    for i, later in enumerate(leaves):
        for earlier in leaves[:i]:
            if _disjoint(earlier, later):
                effect = "add points" if section == "signals" else "fire"
                out.append(
                    err(
                        _loc(later),
                        name,
                        f"`{_text(later)}` contradicts `{_text(earlier)}` "
                        f"(line {_loc(earlier).line}): this rule can never {effect}",
                        "fix the values, or use `any` if either test should do",
                    )
                )
                break
    return out


def _loc(cond: c.Condition) -> c.Loc:
    return cond.loc


def _text(cond: c.Condition) -> str:
    if isinstance(cond, c.Not):
        return f"not {_text(cond.item)}"
    return str(cond)


def _disjoint(a: c.Condition, b: c.Condition) -> bool:
    if isinstance(a, c.Compare) and isinstance(b, c.Compare):
        return a.field == b.field and _compare_disjoint(a, b)
    for x, y in ((a, b), (b, a)):
        if (
            isinstance(x, c.ActivityCount)
            and isinstance(y, c.Not)
            and isinstance(y.item, c.ActivityCount)
        ):
            never = y.item
            return (
                never.type == x.type
                and never.at_least <= x.at_least
                and never.within_days >= x.within_days
            )
    return False


def _compare_disjoint(a: c.Compare, b: c.Compare) -> bool:
    ops = {a.op, b.op}
    if ops == {"exists", "missing"}:
        return True
    if "missing" in ops:
        return ops != {"missing"}  # every comparison on a missing field is false
    if "exists" in ops or ("matches" in ops and ops != {"matches"} and _finite(a) is None):
        return False
    for x, y in ((a, b), (b, a)):
        values = _finite(x)
        if values is not None:
            return not any(_holds(y, v) for v in values)
    ia, ib = _interval(a), _interval(b)
    if ia is None or ib is None:
        return False
    low, high = max(ia[0], ib[0]), min(ia[2], ib[2])
    strict = any(i[1] for i in (ia, ib) if i[0] == low) or any(
        i[3] for i in (ia, ib) if i[2] == high
    )
    return low > high or (low == high and strict)


def _finite(cmp: c.Compare) -> tuple[c.Scalar, ...] | None:
    """The only values a test admits (``eq``/``in``), else None."""
    if cmp.op == "eq" and cmp.value is not None and not isinstance(cmp.value, tuple):
        return (cmp.value,)
    if cmp.op == "in" and isinstance(cmp.value, tuple):
        return cmp.value
    return None


def _holds(cmp: c.Compare, v: c.Scalar) -> bool:
    """Whether value ``v`` passes ``cmp`` (types must match, as in the engine)."""
    lit = cmp.value
    if cmp.op in ("eq", "ne", "in", "not_in"):
        values = lit if isinstance(lit, tuple) else (lit,)
        same = any(type(x) is type(v) and x == v for x in values if x is not None) or any(
            _number(x) and _number(v) and x == v for x in values if x is not None
        )
        return same if cmp.op in ("eq", "in") else not same
    if cmp.op == "matches":
        from rules.regex import compile_regex

        return (
            isinstance(v, str) and compile_regex(str(lit), cmp.ignore_case).fullmatch(v) is not None
        )
    interval = _interval(cmp)
    if interval is None or not _number(v):
        return False
    x = float(v)
    low, low_strict, high, high_strict = interval
    return (x > low or (x == low and not low_strict)) and (
        x < high or (x == high and not high_strict)
    )


def _number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _interval(cmp: c.Compare) -> Interval | None:
    v = cmp.value
    if not _number(v):
        return None
    x = float(v)  # type: ignore[arg-type]
    return {
        "gt": (x, True, _INF, False),
        "gte": (x, False, _INF, False),
        "lt": (-_INF, False, x, True),
        "lte": (-_INF, False, x, False),
        "eq": (x, False, x, False),
    }.get(cmp.op)
