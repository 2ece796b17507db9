"""In-process evaluation of one lead: facts in, fired rules out, outcome computed from them.

The engine decides which rules fire. Python only turns what fired into scores (decay, caps,
adjustments), the stage outcome (precedence), the rep (weighted shares inside the chosen pool:
rules/pick.py) and the SLA deadline. Use :class:`rules.pool.EnginePool` in the server; this
class is for one thread.
"""

from __future__ import annotations

import json
import re
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, get_args

from rules import explainer, worktime
from rules.calendars import rep_calendar
from rules.compiler import (
    MICROS_PER_DAY,
    SUBJECT_1,
    SUBJECT_2,
    CompiledRulebook,
    compile_rulebook,
    fact_field,
    number,
    subject_keys,
)
from rules.conditions import fields_used
from rules.engine import EngineRuleset
from rules.errors import EngineError, InvalidInput
from rules.escalation import escalate_at
from rules.facts import Facts, build_facts
from rules.horizon import Horizon
from rules.loader import load_rulebook
from rules.models import (
    EvaluationInput,
    EvaluationResult,
    RepData,
    Section,
)
from rules.packing import fact_kind
from rules.pick import pick, route_policy
from rules.rulebook import Route, Rulebook, Transition

_DAY = float(MICROS_PER_DAY)
SECTIONS = frozenset(get_args(Section))
_AGE = re.compile(r'"age":\s*(\d+)')
_TYPE = re.compile(r'"type":\s*"([^"]*)"')


class Evaluator:
    """A compiled rulebook registered in this process's engine."""

    def __init__(self, rulebook: Rulebook | str | Path) -> None:
        book = rulebook if isinstance(rulebook, Rulebook) else load_rulebook(rulebook)
        self.book = book
        self.compiled: CompiledRulebook = compile_rulebook(book)
        prefix = f"leadgate_{book.version[:12]}"
        self.rulesets = [EngineRuleset(prefix, part) for part in self.compiled.parts]
        """One engine ruleset per part of the compiled rulebook, all given the same facts."""
        self._activity_types = [_activity_types(part) for part in self.compiled.parts]
        self._decides = [
            any(self.compiled.rules[n].phase == 2 for n in part if n in self.compiled.rules)
            for part in self.compiled.parts
        ]
        self._needs_message = {
            name
            for name, rule in self.compiled.rules.items()
            if rule.section == "signals"
            and rule.activity_aliases
            and book.scores[self._signal(rule.rule).score].half_life_days
        }
        # Count patterns match the N-th newest activity (rank N); a signal decays from the
        # newest one of that type (docs/rules.md), so those rules look the newest up.
        self._from_newest = {
            name
            for name in self._needs_message
            if not self._signal(self.compiled.rules[name].rule).per_activity
            and not any(a.endswith("t") for a in self.compiled.rules[name].activity_aliases)
        }
        self._signals = {s.name: s for s in book.signals}
        self._transitions = {t.name: t for t in book.transitions}
        self._sla_rules = {r.name: r for r in book.sla.rules}
        self._policies = {r.name: route_policy(r) for r in book.routing.routes}
        self._order = {r: i for i, r in enumerate(self.compiled.conditions)}
        self._lookback = book.lookback_days
        self.leaked_sessions = 0
        """Sessions not deleted because the engine failed inside them (see ``evaluate``)."""
        self._fields = frozenset(
            fact_field(f) for cond in self.compiled.conditions.values() for f in fields_used(cond)
        )
        # Each round asserts only the subject fields its rules test: less JSON, less matching.
        self._keys_1 = subject_keys(self.compiled, 1)
        self._keys_2 = subject_keys(self.compiled, 2)
        self.horizon = Horizon(self.compiled)

    def _signal(self, name: str) -> Any:
        return next(s for s in self.book.signals if s.name == name)

    @property
    def version(self) -> str:
        return self.book.version

    @property
    def ruleset(self) -> EngineRuleset:
        """The first engine ruleset (the only one unless the rulebook is large)."""
        return self.rulesets[0]

    def close(self) -> None:
        """Free the engine rulesets (call when no evaluation is in flight)."""
        for ruleset in self.rulesets:
            ruleset.close()

    def __enter__(self) -> Evaluator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def evaluate(self, inp: EvaluationInput, *, explain: bool = True) -> EvaluationResult:
        """Evaluate one lead in a fresh engine session (always deleted).

        ``explain=False`` skips the failed-condition report of rules that did not fire.
        """
        started = time.perf_counter()
        book = self.book
        if inp.lead.stage not in book.stages.all:
            valid = ", ".join(book.stages.all)
            raise InvalidInput(f"unknown stage `{inp.lead.stage}` (valid: {valid})")
        compiled = self.compiled
        facts = build_facts(
            book, inp, self._lookback, compiled.regexes, self._fields, compiled.activity_windows
        )
        sid = self.ruleset.new_sid()
        try:
            hits = self._match_signals(sid, facts)
            contributions = self._contributions(hits)
            scores = self._scores(contributions, facts)
            subject_2 = dict(facts.subject)
            for name, score in scores.items():
                subject_2[fact_field(f"scores.{name}")] = number(score["value"])
            fired_names = set(hits) | self._match_decisions(sid, subject_2, facts)
        except EngineError:
            # Deleting a session whose assert failed frees invalid memory and aborts the
            # process (measured: error 303, then "free(): invalid pointer"). Leak it instead;
            # pool workers exit after an engine error so the leak never accumulates.
            self.leaked_sessions += 1
            raise
        except BaseException:
            self._end_session(sid)
            raise
        self._end_session(sid)
        stage = self._stage(inp, fired_names)
        final_stage = stage["to_stage"] or stage["from_stage"]
        routing, sla = self._route_and_sla(inp, fired_names, final_stage)
        payload = {
            "rulebook_version": book.version,
            "fired": self._fired_list(
                fired_names, contributions, stage, routing, sla, _rep_label(inp, routing["rep_id"])
            ),
            "contributions": contributions,
            "scores": scores,
            "stage": stage,
            "routing": routing,
            "sla": sla,
            "not_fired": self._explain(fired_names, subject_2, facts) if explain else [],
            "next_change_at": self.horizon.next_change(inp, contributions, scores),
            "duration_ms": round((time.perf_counter() - started) * 1000, 3),
        }
        return EvaluationResult.model_validate(payload)  # one validation, in Rust

    def _match_signals(self, sid: str, facts: Facts) -> dict[str, list[float | None]]:
        """Round 1: activities, then the subject. Signal name → ages (days) of its matches."""
        activities = [{**act, "n": i, "sid": sid} for i, act in enumerate(facts.activities)]
        subject = {k: v for k, v in facts.subject.items() if k in self._keys_1}
        subject_fact = {**subject, "k": SUBJECT_1, "n": -2, "sid": sid}
        hits: dict[str, list[float | None]] = {}
        rules = self.compiled.rules
        newest: dict[str, int] = {}
        for act in reversed(facts.activities):  # sorted by age: the first of a type is newest
            newest[act["type"]] = act["age"]
        single = len(self.rulesets) == 1
        for ruleset, types in zip(self.rulesets, self._activity_types, strict=True):
            sent = activities if single else [a for a in activities if a["type"] in types]
            frame = json.dumps([*sent, subject_fact], ensure_ascii=False)
            for engine_name, message in ruleset.assert_facts(frame):
                rule = rules.get(engine_name)
                if rule is None:
                    continue
                age: float | None = None
                if engine_name in self._from_newest:
                    age = min(newest[t] for t in _TYPE.findall(message)) / _DAY
                elif engine_name in self._needs_message:
                    # Only activity facts have an "age" key; no JSON parse of the whole frame.
                    age = min(map(int, _AGE.findall(message))) / _DAY
                hits.setdefault(rule.rule, []).append(age)
        return hits

    def _match_decisions(self, sid: str, subject_2: dict[str, Any], facts: Facts) -> set[str]:
        """Round 2: the subject with scores; names of fired stage/routing/SLA rules."""
        subject = {k: v for k, v in subject_2.items() if k in self._keys_2}
        frame = json.dumps([{**subject, "k": SUBJECT_2, "n": -4, "sid": sid}], ensure_ascii=False)
        rules = self.compiled.rules
        fired = set()
        for ruleset, decides in zip(self.rulesets, self._decides, strict=True):
            if not decides:
                continue
            for engine_name, _ in ruleset.assert_facts(frame):
                rule = rules.get(engine_name)
                if rule is not None:
                    fired.add(rule.rule)
        return fired

    def _end_session(self, sid: str) -> None:
        for ruleset in self.rulesets:
            ruleset.delete(sid)

    def _contributions(self, hits: dict[str, list[float | None]]) -> list[dict[str, Any]]:
        """One contribution per fired signal; per-activity signals sum their decayed matches."""
        out: list[dict[str, Any]] = []
        for signal in self.book.signals:
            ages = hits.get(signal.name)
            if ages is None:
                continue
            half_life = self.book.scores[signal.score].half_life_days
            known = [a for a in ages if a is not None]
            if not signal.per_activity:
                known = [min(known)] if known else []
            if not half_life or not known:
                factors = [1.0]
            else:
                factors = [0.5 ** (age / half_life) for age in known]
            total = sum(factors)
            count = len(factors)
            out.append(
                {
                    "signal": signal.name,
                    "score": signal.score,
                    "points": signal.points,
                    "matches": count,
                    "decay_factor": round(total / count, 6),
                    "value": round(signal.points * total, 4),
                    "activity_age_days": round(min(known), 4) if known else None,
                }
            )
        return out

    def _scores(
        self, contributions: list[dict[str, Any]], facts: Facts
    ) -> dict[str, dict[str, Any]]:
        raw = {name: 0.0 for name in self.book.scores}
        for contribution in contributions:
            raw[contribution["score"]] += contribution["value"]
        out = {}
        for name, definition in self.book.scores.items():
            adjustment = facts.adjustments.get(name, 0.0)
            value = max(definition.floor, min(definition.cap, raw[name] + adjustment))
            out[name] = {
                "name": name,
                "raw": round(raw[name], 4),
                "adjustment": adjustment,
                "value": round(value, 4),
                "cap": definition.cap,
            }
        return out

    def _stage(self, inp: EvaluationInput, fired: set[str]) -> dict[str, Any]:
        """Disqualification wins; then side stages (recycle); then the most advanced stage."""
        current = inp.lead.stage
        order = self.book.stages.order
        candidates = [t for t in self.book.transitions if t.name in fired and t.to != current]
        if not candidates:
            return {"from_stage": current, "to_stage": None, "rule": None, "reason": None}

        def precedence(t: Transition) -> tuple[int, int, int]:
            disq = 1 if t.section == "disqualification" else 0
            side = 1 if t.to not in order else 0
            rank = order.index(t.to) if t.to in order else len(order)
            return (-disq, -side, -rank)

        chosen = min(candidates, key=precedence)
        return {
            "from_stage": current,
            "to_stage": chosen.to,
            "rule": chosen.name,
            "reason": chosen.reason,
        }

    def _route_and_sla(
        self, inp: EvaluationInput, fired: set[str], stage: str
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """First fired route (file order) with an eligible rep; the pick inside its pool is
        rules/pick.py's (weights, catch-up; equal weights pick in round robin order)."""
        handoff = self.book.stages.handoff
        if handoff is None or stage != handoff:
            why = f"stage `{stage}` is not the handoff stage `{handoff}`"
            return {"route": None, "rep_id": None, "why": why}, None
        matched = [r for r in self.book.routing.routes if r.name in fired]
        routing: dict[str, Any] = {"route": None, "rep_id": None, "why": "no route matched"}
        if matched:
            names = ", ".join(r.name for r in matched)
            routing = {
                "route": matched[0].name,
                "rep_id": None,
                "why": f"routes {names} matched but no active rep with free capacity in their "
                "pools",
            }
        skipped: dict[str, str] = {}
        seen: dict[str, tuple[str | None, datetime | None]] = {}
        starts_at = None
        for route in matched:
            pool, starts_at = self._pool(inp, route, skipped, seen)
            if pool:
                free = {rep.rep_id for rep in pool}
                chosen = pick(
                    route=route.name,
                    eligible=pool,
                    absent=[r for r in _inside(inp, route) if r.rep_id not in free],
                    policy=self._policies[route.name],
                    now=inp.now,
                )
                routing = {
                    "route": route.name,
                    "rep_id": chosen.rep_id,
                    "why": chosen.why,
                    "shares": chosen.shares,
                }
                break
        routing["why"] += self._queued(inp, starts_at, routing["rep_id"]) + _skipped(skipped)
        return routing, self._sla(inp, fired, routing["rep_id"], starts_at)

    def _pool(
        self,
        inp: EvaluationInput,
        route: Route,
        skipped: dict[str, str],
        seen: dict[str, tuple[str | None, datetime | None]],
    ) -> tuple[list[RepData], datetime | None]:
        """The route's reps with free capacity that are available at ``inp.now`` (the others go
        to ``skipped`` with the reason). When none is and the route queues, the reps available
        soonest within its bound, and when that is (the SLA clock starts then). ``seen`` keeps
        each rep's availability across the routes of one evaluation."""
        eligible = [
            rep
            for rep in inp.reps
            if rep.active
            and rep.open_handoffs < rep.capacity
            and (route.territory is None or rep.territory == route.territory)
            and (route.segment is None or route.segment in rep.segments)
        ]
        pool, away = [], []
        for rep in eligible:
            if rep.rep_id not in seen:
                cal = rep_calendar(self.book.working_time, rep)
                seen[rep.rep_id] = worktime.status(cal, inp.now)
            reason, back = seen[rep.rep_id]
            if reason is None:
                pool.append(rep)
            else:
                skipped.setdefault(rep.rep_id, f"{rep.name or rep.email or rep.rep_id} {reason}")
                away.append((back, rep))
        if pool or not away or route.queue_max_wait_hours is None:
            return pool, None
        bound = inp.now + timedelta(hours=route.queue_max_wait_hours)
        waits = [(at, rep) for at, rep in away if at is not None and at <= bound]
        if not waits:
            return [], None
        soonest = min(at for at, _ in waits)
        return [rep for at, rep in waits if at == soonest], soonest

    def _queued(self, inp: EvaluationInput, starts_at: datetime | None, rep_id: str | None) -> str:
        owner = next((r for r in inp.reps if r.rep_id == rep_id), None)
        if starts_at is None or owner is None:
            return ""
        tz = rep_calendar(self.book.working_time, owner).tz
        back = worktime.when(starts_at, tz, inp.now)
        return f"; nobody was available: queued for the rep available soonest ({back})"

    def _sla(
        self,
        inp: EvaluationInput,
        fired: set[str],
        rep_id: str | None,
        starts_at: datetime | None,
    ) -> dict[str, Any] | None:
        """The deadline: wall-clock hours, or hours of the owner's working time (business)."""
        sla = self.book.sla
        priority = next((p for p in sla.rules if p.name in fired), None)
        level = priority.priority if priority else sla.default
        if level is None or level not in sla.priorities:
            return None
        hours = sla.priorities[level]
        start = starts_at or inp.now
        clock = sla.clock(level)
        deadline = None
        owner = next((r for r in inp.reps if r.rep_id == rep_id), None)
        cal = rep_calendar(self.book.working_time, owner) if owner is not None else None
        if clock == "business" and cal is not None:
            deadline = worktime.add_working_time(cal, start, hours)
        if deadline is None:  # no owner, or no working time for years: the wall clock
            clock, deadline = "wall", start + timedelta(hours=hours)
        escalation = sla.escalation.get(level)
        return {
            "rule": priority.name if priority else None,
            "priority": level,
            "hours": hours,
            "deadline": deadline,
            "clock": clock,
            "starts_at": starts_at,
            "escalate_at": (
                escalate_at(escalation.after_hours, escalation.clock, cal, start)
                if escalation
                else None
            ),
        }

    def _fired_list(
        self,
        fired: set[str],
        contributions: list[dict[str, Any]],
        stage: dict[str, Any],
        routing: dict[str, Any],
        sla: dict[str, Any] | None,
        rep_label: str | None,
    ) -> list[dict[str, Any]]:
        values = {c["signal"]: c["value"] for c in contributions}
        sections = self.compiled.sections
        out = []
        for name in sorted(fired, key=self._order.__getitem__):
            section = sections[name]
            if section == "signals":
                effect = f"{self._signals[name].score} {values.get(name, 0.0):+g}"
            elif section in ("qualification", "disqualification"):
                t = self._transitions[name]
                chosen = "" if stage["rule"] == name else " (not applied: another transition won)"
                reason = f" reason {t.reason}" if t.reason else ""
                effect = f"stage {stage['from_stage']} → {t.to}{reason}{chosen}"
            elif section == "routing":
                applied = f" → {rep_label}" if routing["route"] == name else ""
                effect = f"route {name}{applied}"
            else:
                applied = " (applied)" if sla and sla["rule"] == name else ""
                effect = f"priority {self._sla_rules[name].priority}{applied}"
            out.append({"name": name, "section": section, "effect": effect})
        return out

    def _explain(
        self, fired: set[str], subject: dict[str, Any], facts: Facts
    ) -> list[dict[str, Any]]:
        sections = self.compiled.sections
        return [
            {
                "rule": name,
                "section": sections[name],
                "failed": explainer.failures(cond, subject, facts.activities),
            }
            for name, cond in self.compiled.conditions.items()
            if name not in fired
        ]


def _skipped(skipped: dict[str, str]) -> str:
    """``; unavailable: Avery Ent out of office until Mon 7 Dec 09:00 CET, …``"""
    return "; unavailable: " + ", ".join(skipped.values()) if skipped else ""


def _inside(inp: EvaluationInput, route: Route) -> list[RepData]:
    """Every rep of the route's pool, eligible now or not (the absent ones for catch-up)."""
    return [
        rep
        for rep in inp.reps
        if (route.territory is None or rep.territory == route.territory)
        and (route.segment is None or route.segment in rep.segments)
    ]


def _rep_label(inp: EvaluationInput, rep_id: str | None) -> str | None:
    """How texts name a rep: the email people read (the id when the input has no email)."""
    rep = next((r for r in inp.reps if r.rep_id == rep_id), None)
    return (rep.email or rep.rep_id) if rep is not None else rep_id


def _activity_types(part: dict[str, Any]) -> frozenset[str]:
    """Activity types some pattern of this engine ruleset tests (others are not sent to it)."""
    return frozenset(
        kind[2:]
        for rule in part.values()
        for pattern in rule["all"]
        for test in pattern.values()
        if (kind := fact_kind(test)).startswith("a:")
    )
