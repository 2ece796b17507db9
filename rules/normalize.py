"""Rule conditions → disjunctive normal form over engine atoms.

One subject pattern (all field tests, negations pushed inward: a comparison on a missing field
is false, so its negation also holds when the field is missing), activity patterns, and negated
activity patterns (``$not``). rules/compiler.py turns each branch into one engine rule.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from rules import conditions as c
from rules import limits
from rules.encoding import fact_field, number, regex_key

_CMP = {"gt": "$gt", "gte": "$gte", "lt": "$lt", "lte": "$lte"}
_INVERSE = {"gt": "lte", "gte": "lt", "lt": "gte", "lte": "gt", "eq": "ne", "ne": "eq"}
_INVERSE["in"], _INVERSE["not_in"] = "not_in", "in"

JSON = dict[str, Any]


class CompileError(Exception):
    """A condition the engine cannot express; the validator reports it with its location."""

    def __init__(self, loc: c.Loc, message: str, suggestion: str | None = None) -> None:
        super().__init__(message)
        self.loc = loc
        self.message = message
        self.suggestion = suggestion


@dataclass
class Conj:
    """One branch: subject tests, activity atoms, negated activity atoms."""

    fields: list[JSON] = field(default_factory=list)
    acts: list[c.ActivityCount | c.Sequence] = field(default_factory=list)
    nacts: list[c.ActivityCount] = field(default_factory=list)

    def __add__(self, other: Conj) -> Conj:
        return Conj(
            self.fields + other.fields,
            self.acts + other.acts,
            self.nacts + other.nacts,
        )


def _literal(v: c.Scalar) -> c.Scalar:
    if isinstance(v, bool | str):
        return v
    return number(v)


def _compare_json(cmp: c.Compare, op: str) -> JSON:
    name = fact_field(cmp.field)
    value: Any = None if isinstance(cmp.value, tuple) or cmp.value is None else _literal(cmp.value)
    if op == "eq":
        return {name: value}
    if op == "ne":
        return {"$neq": {name: value}}
    if op in _CMP:
        return {_CMP[op]: {name: value}}
    if op in ("in", "not_in"):
        values = cmp.value if isinstance(cmp.value, tuple) else ()
        if op == "in":
            tests: list[JSON] = [{name: _literal(v)} for v in values]
            return tests[0] if len(tests) == 1 else {"$or": tests}
        tests = [{"$neq": {name: _literal(v)}} for v in values]
        return tests[0] if len(tests) == 1 else {"$and": tests}
    if op == "matches":
        return {regex_key(cmp): True}
    if op == "exists":
        return {"$ex": {name: 1}}
    if op == "missing":
        return {"$nex": {name: 1}}
    raise CompileError(cmp.loc, f"unknown operator `{op}`")


def _field_json(cond: c.Condition, neg: bool) -> JSON | None:
    """Field-only subtree as one pattern test; None means 'always true'.

    Comparisons on a missing field are false, so a negated comparison also holds when the field
    is missing: ``not (x gt 5)`` → ``x lte 5 or x missing``.
    """
    if isinstance(cond, c.Compare):
        if not neg:
            return _compare_json(cond, cond.op)
        if cond.op == "exists":
            return _compare_json(cond, "missing")
        if cond.op == "missing":
            return _compare_json(cond, "exists")
        if cond.op == "matches":
            return {regex_key(cond): False}
        return {"$or": [_compare_json(cond, _INVERSE[cond.op]), _compare_json(cond, "missing")]}
    if isinstance(cond, c.Not):
        return _field_json(cond.item, not neg)
    if isinstance(cond, c.AllOf | c.AnyOf):
        conj = isinstance(cond, c.AllOf) != neg
        parts = [_field_json(i, neg) for i in cond.items]
        if conj:
            kept = [p for p in parts if p is not None]
            if not kept:
                return None
            return kept[0] if len(kept) == 1 else {"$and": kept}
        if not parts or any(p is None for p in parts):
            if not parts:
                raise CompileError(cond.loc, "this condition can never be true (empty `any`)")
            return None
        real = [p for p in parts if p is not None]
        return real[0] if len(real) == 1 else {"$or": real}
    raise CompileError(NOWHERE_LOC, "activity pattern inside a field test")


NOWHERE_LOC = c.NOWHERE


def _field_only(cond: c.Condition) -> bool:
    if isinstance(cond, c.Compare):
        return True
    if isinstance(cond, c.Not):
        return _field_only(cond.item)
    if isinstance(cond, c.AllOf | c.AnyOf):
        return all(_field_only(i) for i in cond.items)
    return False


def normalize(cond: c.Condition, neg: bool = False) -> list[Conj]:
    """Disjunctive normal form over engine atoms (field-only subtrees stay one atom)."""
    if _field_only(cond):
        test = _field_json(cond, neg)
        return [Conj(fields=[] if test is None else [test])]
    if isinstance(cond, c.ActivityCount):
        return [Conj(nacts=[cond])] if neg else [Conj(acts=[cond])]
    if isinstance(cond, c.Sequence):
        if neg:
            raise CompileError(
                cond.loc,
                "`not` over a sequence is not supported by the engine",
                "negate the single activities instead, e.g. not: {activity: ...}",
            )
        return [Conj(acts=[cond])]
    if isinstance(cond, c.Not):
        return normalize(cond.item, not neg)
    assert isinstance(cond, c.AllOf | c.AnyOf)
    conj = isinstance(cond, c.AllOf) != neg
    branches = [normalize(i, neg) for i in cond.items]
    if conj:
        out = [Conj()]
        for b in branches:
            out = [x + y for x, y in itertools.product(out, b)]
            if len(out) > limits.MAX_DISJUNCTS_PER_RULE:
                raise CompileError(
                    cond.loc,
                    f"condition expands to more than {limits.MAX_DISJUNCTS_PER_RULE} engine rules",
                    "split the rule, or move `any` around activity patterns up",
                )
        return out
    out = [x for b in branches for x in b]
    if len(out) > limits.MAX_DISJUNCTS_PER_RULE:
        raise CompileError(
            cond.loc, f"condition expands to more than {limits.MAX_DISJUNCTS_PER_RULE} engine rules"
        )
    return out


def count_tests(test: Any) -> int:
    """Leaf tests in a pattern (for the conditions-per-node limit)."""
    if isinstance(test, dict):
        if set(test) <= {"$and", "$or"} and test:
            return sum(count_tests(x) for v in test.values() for x in v)
        return 1
    return 1
