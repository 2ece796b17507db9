"""Compile a rulebook to durable_rules ruleset definitions (plain JSON, no Python actions).

Each rule condition is normalised to a disjunction of conjunctions whose atoms the engine can
match (rules/normalize.py): one subject pattern (all field tests, negations pushed inward),
activity patterns (joined as correlations), and negated activity patterns (``$not``, placed right
after the subject pattern: see ``compile_rulebook``). Every
branch becomes one engine rule; the evaluator walks the fired actions instead of running Python
callbacks. Fact keys and values the engine sees are in rules/encoding.py.

Regex tests are the one leaf the engine does not evaluate itself: durable_rules' own regex DFA
gives wrong answers (``.*(vp|chief|cro).*`` does not match "Chief Revenue Officer"), cannot fold
non-ASCII case and rejects some valid patterns (error 507). Each distinct regex test therefore
becomes a boolean fact field (``rx_<hash>``) computed with RE2's ``fullmatch`` (linear time,
:mod:`rules.regex`) when the
facts are built; the engine still combines it with every other condition.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from rules import conditions as c
from rules import limits
from rules.encoding import (
    ACTIVITY,
    MICROS_PER_DAY,
    SUBJECT_1,
    SUBJECT_2,
    fact_field,
    micros,
    number,
    regex_key,
    seconds,
)
from rules.normalize import JSON, CompileError, Conj, count_tests, normalize
from rules.packing import TooManyPatterns, pack
from rules.regex import Regex, compile_regex
from rules.rulebook import Rulebook

__all__ = [
    "ACTIVITY",
    "CATCH_ALL_1",
    "MICROS_PER_DAY",
    "SUBJECT_1",
    "SUBJECT_2",
    "CompileError",
    "CompiledRulebook",
    "Conj",
    "EngineRule",
    "activity_windows",
    "compile_rulebook",
    "count_tests",
    "effective_conditions",
    "fact_field",
    "from_stages",
    "micros",
    "normalize",
    "number",
    "part_keys",
    "regex_key",
    "seconds",
    "subject_keys",
]

CATCH_ALL_1 = "zz1"
CATCH_ALL_PRIORITY = 1_000_000
CATCH_ALLS: dict[str, JSON] = {
    CATCH_ALL_1: {"all": [{"m": {"$s": 1}}], "pri": CATCH_ALL_PRIORITY},
}
"""The catch-all of every engine ruleset: it matches the engine's own state fact (``{"sid",
"id": "sid-<sid>", "$s": 1}``), which the engine asserts once, with the first fact of a new
session. So an action runs in every session before it can be deleted (``delete_state`` on a
session where none ran frees uninitialised memory: DESIGN.md §4), at no cost per lead: a
catch-all on the subject facts fired in both rounds of every lead, two actions a lead whose
messages carried the whole subject. No rule tests the state fact otherwise (no ``k``)."""
_RESERVED: dict[str, JSON] = {
    "subject_1": {"all": [{"m": {"k": SUBJECT_1}}]},
    "subject_2": {"all": [{"m": {"k": SUBJECT_2}}]},
}
"""Patterns packing keeps room for in every ruleset (the subject catch-alls of before)."""


@dataclass(frozen=True)
class EngineRule:
    """One compiled engine rule: which rulebook rule and branch it stands for."""

    name: str
    section: str
    rule: str
    phase: int
    activity_aliases: tuple[str, ...]


@dataclass
class CompiledRulebook:
    """Engine definitions plus the map from engine rule names back to rulebook rules."""

    book: Rulebook
    definition: dict[str, JSON]
    rules: dict[str, EngineRule]
    conditions: dict[str, c.Condition]
    """Effective condition per rulebook rule (``from`` guards included) for the explainer."""
    sections: dict[str, str]
    regexes: dict[str, tuple[str, Regex]]
    """Regex fact key → (fact field tested, compiled pattern)."""
    activity_windows: dict[str, int]
    """Activity type → the oldest age (µs) any rule can look at; others are not asserted."""
    parts: list[dict[str, JSON]] = field(default_factory=list)
    """The engine rulesets ``definition`` is split into (each with the catch-alls), so that no
    fact matches more patterns in one ruleset than the engine allows (rules/packing.py)."""

    def phase_count(self, phase: int) -> int:
        return sum(1 for r in self.rules.values() if r.phase == phase)


def effective_conditions(book: Rulebook) -> dict[str, tuple[str, c.Condition]]:
    """Rule name → (section, condition), guards of transitions folded into the condition."""
    out: dict[str, tuple[str, c.Condition]] = {}
    for s in book.signals:
        out[s.name] = ("signals", s.when)
    for t in book.transitions:
        guard = c.Compare("lead.stage", "in", from_stages(book, t.to, t.from_stages), False, t.loc)
        out[t.name] = (t.section, c.AllOf((guard, t.when), t.loc))
    for r in book.routing.routes:
        out[r.name] = ("routing", r.when)
    for p in book.sla.rules:
        out[p.name] = ("sla", p.when)
    return out


def from_stages(book: Rulebook, to: str, declared: tuple[str, ...]) -> tuple[str, ...]:
    """A transition's guard: declared ``from``, else every earlier stage (no backward jumps)."""
    if declared:
        return declared
    order = book.stages.order
    if to in order:
        return order[: order.index(to)] or (order[0],)
    return tuple(s for s in order if s != to)


def _activity_json(a: c.ActivityCount, max_rank: int | None) -> JSON:
    rank: JSON = {"$lte": {"rank": max_rank}} if max_rank else {"rank": a.at_least}
    return {
        "$and": [
            {"k": ACTIVITY},
            {"type": a.type},
            rank,
            {"$lte": {"age": micros(a.within_days)}},
        ]
    }


def compile_rulebook(book: Rulebook) -> CompiledRulebook:
    """Rulebook → engine definitions. Raises :class:`CompileError` on inexpressible conditions."""
    definition: dict[str, JSON] = {}
    rules: dict[str, EngineRule] = {}
    codes = {"signals": "g", "qualification": "q", "disqualification": "d", "routing": "r"}
    codes["sla"] = "p"
    per_activity = {s.name: s.max_count for s in book.signals if s.per_activity}
    effective = effective_conditions(book)
    for index, (name, (section, cond)) in enumerate(effective.items()):
        phase = 1 if section == "signals" else 2
        subject = SUBJECT_1 if phase == 1 else SUBJECT_2
        for branch, conj in enumerate(normalize(cond)):
            engine_name = f"{codes[section]}{index}_{branch}"
            subject_test: JSON = {"k": subject}
            if conj.fields:
                subject_test = {"$and": [{"k": subject}, *conj.fields]}
            patterns: list[JSON] = [{"m": subject_test}]
            # Negated activity patterns come right after the subject, before any positive
            # activity pattern: the engine checks a ``$not`` against the frame built so far
            # and ignores the facts already bound in it (distinct facts per frame), so a
            # ``$not`` after ``a0`` could never see the activity ``a0`` bound: `X within 14
            # and not X within 7` fired for an X 3 days old. Next to the subject alone it sees
            # every activity (all are asserted before the subject: rules/evaluator.py).
            for i, negated in enumerate(conj.nacts):
                patterns.append({f"n{i}$not": _activity_json(negated, None)})
            aliases: list[str] = []
            for i, atom in enumerate(_merge_same_rank(conj.acts, name in per_activity)):
                if isinstance(atom, c.ActivityCount):
                    alias = f"a{i}"
                    patterns.append({alias: _activity_json(atom, per_activity.get(name))})
                    aliases.append(alias)
                else:
                    first, then = f"a{i}f", f"a{i}t"
                    patterns.append(
                        {
                            first: {
                                "$and": [
                                    {"k": ACTIVITY},
                                    {"type": atom.first},
                                    {"$lte": {"age": micros(atom.in_last_days)}},
                                ]
                            }
                        }
                    )
                    patterns.append(
                        {
                            then: {
                                "$and": [
                                    {"k": ACTIVITY},
                                    {"type": atom.then},
                                    {"$gt": {"t": {first: "t"}}},
                                    {
                                        "$lte": {
                                            "t": {
                                                "$add": {
                                                    "$l": {first: "t"},
                                                    "$r": micros(atom.within_days),
                                                }
                                            }
                                        }
                                    },
                                ]
                            }
                        }
                    )
                    aliases.append(then)
            for p in patterns:
                for test in p.values():
                    if count_tests(test) > limits.MAX_CONDITIONS_PER_NODE:
                        raise CompileError(
                            cond.loc,
                            f"more than {limits.MAX_CONDITIONS_PER_NODE} tests in one engine node",
                            "split long `in` lists or the rule",
                        )
            definition[engine_name] = {"all": patterns}
            rules[engine_name] = EngineRule(engine_name, section, name, phase, tuple(aliases))
    try:
        # Packed as if catch-alls on the subject facts still took one pattern of each: the
        # same split into rulesets as before the catch-all moved to the state fact.
        parts = [
            {**{k: v for k, v in part.items() if k not in _RESERVED}, **CATCH_ALLS}
            for part in pack(definition, _RESERVED)
        ]
    except TooManyPatterns as exc:
        rule = rules[exc.rule].rule
        raise CompileError(
            effective[rule][1].loc,
            f"one {exc.kind.replace('a:', 'activity ')} fact would match {exc.count} distinct "
            f"patterns of this rule; the engine allows {limits.MAX_PATTERNS_PER_FACT} (error 303)",
            "split the rule into several rules, or use fewer windows over the same activity",
        ) from exc
    definition.update(CATCH_ALLS)
    return CompiledRulebook(
        book=book,
        definition=definition,
        rules=rules,
        conditions={k: v[1] for k, v in effective.items()},
        sections={k: v[0] for k, v in effective.items()},
        regexes={
            regex_key(n): (fact_field(n.field), compile_regex(str(n.value), n.ignore_case))
            for _, cond in effective.values()
            for n in c.walk(cond)
            if isinstance(n, c.Compare) and n.op == "matches"
        },
        activity_windows=activity_windows(cond for _, cond in effective.values()),
        parts=parts,
    )


def _merge_same_rank(
    acts: list[c.ActivityCount | c.Sequence], per_activity: bool
) -> list[c.ActivityCount | c.Sequence]:
    """``at least n X in w1`` and ``at least n X in w2`` both test the n-th newest X, one fact:
    the engine binds a fact to one pattern only, so two such patterns never match together
    (found by the large-rulebook tests). Their conjunction is ``at least n X in min(w1, w2)``."""
    if per_activity:
        return acts
    merged: dict[tuple[str, int], c.ActivityCount] = {}
    out: list[c.ActivityCount | c.Sequence] = []
    for atom in acts:
        if not isinstance(atom, c.ActivityCount):
            out.append(atom)
            continue
        key = (atom.type, atom.at_least)
        kept = merged.get(key)
        if kept is None:
            merged[key] = atom
            out.append(atom)
        elif atom.within_days < kept.within_days:
            out[out.index(kept)] = merged[key] = atom
    return out


def activity_windows(conds: Iterable[c.Condition]) -> dict[str, int]:
    """Per activity type, the longest look-back (µs) of any pattern over it."""
    windows: dict[str, int] = {}

    def widen(kind: str, days: float) -> None:
        windows[kind] = max(windows.get(kind, 0), micros(days))

    for cond in conds:
        for n in c.walk(cond):
            if isinstance(n, c.ActivityCount):
                widen(n.type, n.within_days)
            elif isinstance(n, c.Sequence):
                widen(n.first, n.in_last_days)
                widen(n.then, n.in_last_days + n.within_days)
    return windows


def subject_keys(
    compiled: CompiledRulebook, phase: int, names: Collection[str] | None = None
) -> frozenset[str]:
    """Subject fact keys tested by the engine rules of ``phase`` (of ``names`` only, if given).

    Each round asserts only the subject fields its rules test: less JSON, less matching."""
    keys: set[str] = set()

    def collect(test: Any) -> None:
        if not isinstance(test, dict):
            return
        for key, value in test.items():
            if key in ("$and", "$or"):
                for item in value:
                    collect(item)
            elif key.startswith("$"):
                keys.update(value)
            else:
                keys.add(key)

    for name, rule in compiled.rules.items():
        if rule.phase == phase and (names is None or name in names):
            collect(compiled.definition[name]["all"][0]["m"])
    keys.discard("k")
    return frozenset(keys)


def part_keys(compiled: CompiledRulebook, part: dict[str, Any], phase: int) -> tuple[str, ...]:
    """Subject fact keys the rules of one engine ruleset test in ``phase`` (sorted)."""
    names = {n for n in part if n in compiled.rules and compiled.rules[n].phase == phase}
    keys = subject_keys(compiled, phase, names)
    return tuple(sorted(keys))
