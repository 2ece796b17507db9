"""Baselines for bench_rules.py: the same rulebook decided by plain Python and by business-rules.

Both subclass the real :class:`rules.Evaluator` and replace only the matching step (which rules
fire); facts, scores, stage, routing and SLA are computed by the same code, so the comparison
isolates the matcher.
"""

from __future__ import annotations

from typing import Any

from rules import Evaluator, Rulebook
from rules import conditions as c
from rules.compiler import MICROS_PER_DAY, fact_field, micros
from rules.explainer import holds
from rules.facts import Facts


def _activity_ages(book_signal: Any, activities: list[dict[str, Any]]) -> list[float | None]:
    """Ages (days) the engine would report for a fired signal: matching activities, ranked."""
    cond = book_signal.when
    atoms = [n for n in c.walk(cond) if isinstance(n, c.ActivityCount | c.Sequence)]
    if not atoms:
        return [None]
    if book_signal.per_activity and isinstance(atoms[0], c.ActivityCount):
        a = atoms[0]
        limit = micros(a.within_days)
        ages = [x["age"] for x in activities if x["type"] == a.type and x["age"] <= limit]
        return [age / MICROS_PER_DAY for age in ages[: book_signal.max_count]]
    ages = []
    for a in atoms:
        kind = a.type if isinstance(a, c.ActivityCount) else a.then
        ages += [x["age"] for x in activities if x["type"] == kind]
    return [min(ages) / MICROS_PER_DAY] if ages else [None]


class PythonEvaluator(Evaluator):
    """Plain Python decides which rules fire (the explainer's ``holds``)."""

    def __init__(self, book: Rulebook) -> None:
        super().__init__(book)
        conds = self.compiled.conditions
        signals = {s.name for s in book.signals}
        self._phase_1 = [(s, conds[s.name]) for s in book.signals]
        self._phase_2 = [(n, cond) for n, cond in conds.items() if n not in signals]

    def _match_signals(self, sid: str, facts: Facts) -> dict[str, list[float | None]]:
        hits = {}
        for signal, cond in self._phase_1:
            if holds(cond, facts.subject, facts.activities):
                hits[signal.name] = _activity_ages(signal, facts.activities)
        return hits

    def _match_decisions(self, sid: str, subject_2: dict[str, Any], facts: Facts) -> set[str]:
        return {n for n, cond in self._phase_2 if holds(cond, subject_2, facts.activities)}

    def _end_session(self, sid: str) -> None:
        pass


# --- business-rules ------------------------------------------------------------------------------


class Untranslatable(ValueError):
    """A rule condition business-rules has no operator for: the comparison cannot include it."""


_BR_OPS = {
    "gt": "greater_than",
    "gte": "greater_than_or_equal_to",
    "lt": "less_than",
    "lte": "less_than_or_equal_to",
    "eq": "equal_to",
}
_INVERSE = {"gt": "lte", "gte": "lt", "lt": "gte", "lte": "gt"}


class BusinessRulesEvaluator(Evaluator):
    """The business-rules package decides which rules fire, on an equivalent rule set.

    Fields become rule variables (plus ``has__<field>`` booleans, since comparisons on a missing
    field are false), activity counts and sequences become variables computed per lead, ``in``
    becomes ``any`` of ``equal_to``, regexes become anchored ``matches_regex``.
    """

    def __init__(self, book: Rulebook) -> None:
        super().__init__(book)
        from business_rules import variables as v

        self._v = v
        self._vars: dict[str, tuple[str, Any]] = {}
        conds = self.compiled.conditions
        signals = {s.name for s in book.signals}
        self._rules_1 = [self._rule(s.name, conds[s.name]) for s in book.signals]
        self._rules_2 = [self._rule(n, cond) for n, cond in conds.items() if n not in signals]
        self._variables_class = self._make_variables_class()

    def _rule(self, name: str, cond: c.Condition) -> dict[str, Any]:
        return {
            "conditions": self._cond(cond, False),
            "actions": [{"name": "fire", "params": {"rule": name}}],
        }

    def _var(self, name: str, kind: str, compute: Any) -> str:
        self._vars[name] = (kind, compute)
        return name

    def _cond(self, cond: c.Condition, neg: bool) -> dict[str, Any]:
        if isinstance(cond, c.Not):
            return self._cond(cond.item, not neg)
        if isinstance(cond, c.AllOf | c.AnyOf):
            if not cond.items:
                return {"name": "always", "operator": "is_true", "value": None}
            key = "all" if isinstance(cond, c.AllOf) != neg else "any"
            return {key: [self._cond(i, neg) for i in cond.items]}
        if isinstance(cond, c.ActivityCount):
            var = f"count__{cond.type}__{micros(cond.within_days)}"
            limit, kind = micros(cond.within_days), cond.type
            self._var(
                var,
                "number",
                lambda f, k=kind, lim=limit: sum(
                    1 for x in f.activities if x["type"] == k and x["age"] <= lim
                ),
            )
            op = "less_than" if neg else "greater_than_or_equal_to"
            return {"name": var, "operator": op, "value": cond.at_least}
        if isinstance(cond, c.Sequence):
            var = f"seq__{cond.first}__{cond.then}"
            self._var(var, "boolean", lambda f, s=cond: _sequence(s, f.activities))
            return {"name": var, "operator": "is_false" if neg else "is_true", "value": None}
        field = fact_field(cond.field)
        has = self._var(f"has__{field}", "boolean", lambda f, k=field: k in f.subject)
        if cond.op in ("exists", "missing"):
            present = (cond.op == "exists") != neg
            return {"name": has, "operator": "is_true" if present else "is_false", "value": None}
        number_field = (
            cond.field.split(".", 1)[0] in ("scores", "adjustments") or cond.op in _BR_OPS
        )
        kind = "number" if number_field and cond.op != "eq" else "string"
        if cond.op == "eq" and not isinstance(cond.value, str):
            kind = "number"
        var = self._var(
            field, kind, lambda f, k=field, z=kind: f.subject.get(k, 0 if z == "number" else "")
        )
        if cond.op == "in":
            tests = [{"name": var, "operator": "equal_to", "value": x} for x in cond.value]  # type: ignore[union-attr]
            body: dict[str, Any] = {"any": tests}
        elif cond.op == "matches":
            flags = "(?i)" if cond.ignore_case else ""
            pattern = f"{flags}^(?:{cond.value})$"
            body = {"name": var, "operator": "matches_regex", "value": pattern}
        elif cond.op in _BR_OPS and not neg:
            body = {"name": var, "operator": _BR_OPS[cond.op], "value": cond.value}
        elif cond.op in _INVERSE and neg:
            body = {"name": var, "operator": _BR_OPS[_INVERSE[cond.op]], "value": cond.value}
            return {"any": [body, {"name": has, "operator": "is_false", "value": None}]}
        else:
            raise Untranslatable(f"no business-rules equivalent for {cond} (negated={neg})")
        if neg:
            raise Untranslatable(f"no business-rules equivalent for not {cond}")
        return {"all": [{"name": has, "operator": "is_true", "value": None}, body]}

    def _make_variables_class(self) -> type:
        v = self._v
        decorators = {
            "number": v.numeric_rule_variable,
            "string": v.string_rule_variable,
            "boolean": v.boolean_rule_variable,
        }
        members: dict[str, Any] = {
            "__init__": lambda self, facts: setattr(self, "facts", facts),
            "always": v.boolean_rule_variable(lambda self: True),
        }
        for name, (kind, compute) in self._vars.items():
            members[name] = decorators[kind](_named(name, lambda self, fn=compute: fn(self.facts)))
        return type("LeadVariables", (v.BaseVariables,), members)

    def _run(self, rules: list[dict[str, Any]], facts: Any) -> set[str]:
        from business_rules import run_all
        from business_rules.actions import BaseActions, rule_action
        from business_rules.fields import FIELD_TEXT

        fired: set[str] = set()

        class Actions(BaseActions):  # type: ignore[misc]
            @rule_action(params={"rule": FIELD_TEXT})  # type: ignore[misc]
            def fire(self, rule: str) -> None:
                fired.add(rule)

        run_all(rules, self._variables_class(facts), Actions(), stop_on_first_trigger=False)
        return fired

    def _match_signals(self, sid: str, facts: Facts) -> dict[str, list[float | None]]:
        fired = self._run(self._rules_1, facts)
        return {
            s.name: _activity_ages(s, facts.activities)
            for s in self.book.signals
            if s.name in fired
        }

    def _match_decisions(self, sid: str, subject_2: dict[str, Any], facts: Facts) -> set[str]:
        return self._run(self._rules_2, Facts(subject_2, facts.activities, facts.adjustments))

    def _end_session(self, sid: str) -> None:
        pass


def _named(name: str, fn: Any) -> Any:
    fn.__name__ = name
    return fn


def _sequence(s: c.Sequence, activities: list[dict[str, Any]]) -> bool:
    first_limit, gap = micros(s.in_last_days), micros(s.within_days)
    firsts = [x["t"] for x in activities if x["type"] == s.first and x["age"] <= first_limit]
    thens = [x["t"] for x in activities if x["type"] == s.then]
    return any(t0 < t1 <= t0 + gap for t0 in firsts for t1 in thens)
