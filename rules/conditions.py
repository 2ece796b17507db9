"""The condition language as a small typed tree, shared by the compiler and the explainer."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

Scalar = str | int | float | bool


@dataclass(frozen=True)
class Loc:
    """Where something was written: file relative to the rulebook folder, 1-based line/column."""

    file: str
    line: int
    column: int


NOWHERE = Loc("<none>", 1, 1)


@dataclass(frozen=True)
class Compare:
    """``{field: PATH, OP: VALUE}``; ``value`` is a tuple for in/not_in, None for exists/missing."""

    field: str
    op: str
    value: Scalar | tuple[Scalar, ...] | None
    ignore_case: bool
    loc: Loc
    op_loc: Loc | None = dataclasses.field(default=None, compare=False)
    """Where the operator key is written (``in:`` of a long list), when known."""

    def __str__(self) -> str:
        if self.op in ("exists", "missing"):
            return f"{self.field} {self.op}"
        if isinstance(self.value, tuple):
            return f"{self.field} {self.op} [{', '.join(map(str, self.value))}]"
        return f"{self.field} {self.op} {self.value!r}"


@dataclass(frozen=True)
class ActivityCount:
    """At least ``at_least`` activities of ``type`` in the last ``within_days`` days."""

    type: str
    at_least: int
    within_days: float
    loc: Loc

    def __str__(self) -> str:
        return f"at least {self.at_least} {self.type} in {_days(self.within_days)}"


@dataclass(frozen=True)
class Sequence:
    """``first`` then ``then`` at most ``within_days`` later; ``first`` within ``in_last_days``."""

    first: str
    then: str
    within_days: float
    in_last_days: float
    loc: Loc

    def __str__(self) -> str:
        return f"{self.first} followed by {self.then} within {_days(self.within_days)}"


@dataclass(frozen=True)
class AllOf:
    items: tuple[Condition, ...]
    loc: Loc


@dataclass(frozen=True)
class AnyOf:
    items: tuple[Condition, ...]
    loc: Loc


@dataclass(frozen=True)
class Not:
    item: Condition
    loc: Loc


Condition = Compare | ActivityCount | Sequence | AllOf | AnyOf | Not
ALWAYS: Condition = AllOf((), NOWHERE)


def _days(days: float) -> str:
    return f"{days:g} day" + ("" if days == 1 else "s")


def walk(cond: Condition) -> Iterator[Condition]:
    """Every node of the tree, depth first."""
    yield cond
    if isinstance(cond, AllOf | AnyOf):
        for item in cond.items:
            yield from walk(item)
    elif isinstance(cond, Not):
        yield from walk(cond.item)


def uses_activities(cond: Condition) -> bool:
    return any(isinstance(c, ActivityCount | Sequence) for c in walk(cond))


def fields_used(cond: Condition) -> set[str]:
    return {c.field for c in walk(cond) if isinstance(c, Compare)}


def max_window_days(cond: Condition) -> float:
    windows = [0.0]
    for c in walk(cond):
        if isinstance(c, ActivityCount):
            windows.append(c.within_days)
        elif isinstance(c, Sequence):
            windows.append(c.in_last_days + c.within_days)
    return max(windows)


def parse(raw: Any, loc_of: Any, key_loc: Any = None) -> Condition:
    """Build a condition from schema-valid YAML; ``loc_of(node)`` gives the node's :class:`Loc`,
    ``key_loc(node, key)`` where a key is written."""
    loc: Loc = loc_of(raw)
    if "all" in raw:
        return AllOf(tuple(parse(x, loc_of, key_loc) for x in raw["all"]), loc)
    if "any" in raw:
        return AnyOf(tuple(parse(x, loc_of, key_loc) for x in raw["any"]), loc)
    if "not" in raw:
        return Not(parse(raw["not"], loc_of, key_loc), loc)
    if "activity" in raw:
        a = raw["activity"]
        return ActivityCount(
            str(a["type"]), int(a.get("at_least", 1)), float(a["within_days"]), loc_of(a)
        )
    if "sequence" in raw:
        s = raw["sequence"]
        within = float(s["within_days"])
        return Sequence(
            str(s["first"]),
            str(s["then"]),
            within,
            float(s.get("in_last_days", within)),
            loc_of(s),
        )
    ops = [k for k in raw if k not in ("field", "ignore_case")]
    op = str(ops[0])
    value: Scalar | tuple[Scalar, ...] | None
    if op in ("exists", "missing"):
        value = None
    elif op in ("in", "not_in"):
        value = tuple(_scalar(v) for v in raw[op])
    else:
        value = _scalar(raw[op])
    op_loc = key_loc(raw, op) if key_loc is not None else None
    return Compare(str(raw["field"]), op, value, bool(raw.get("ignore_case", False)), loc, op_loc)


def _scalar(v: Any) -> Scalar:
    if isinstance(v, bool):
        return bool(v)
    if isinstance(v, int):
        return int(v)
    if isinstance(v, float):
        return float(v)
    return str(v)
