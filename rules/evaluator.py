"""In-process evaluation of one lead: facts in, fired rules out, outcome computed from them.

The engine decides which rules fire. Python only turns what fired into scores (decay, caps,
adjustments: rules/scoring.py), the stage outcome (precedence), the rep and the SLA deadline
(rules/handoff.py). The engine session is reused from lead to lead (rules/session.py). Use
:class:`rules.pool.EnginePool` in the server; this class is for one thread.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, get_args

from rules import explainer
from rules.compiler import (
    MICROS_PER_DAY,
    SUBJECT_1,
    SUBJECT_2,
    CompiledRulebook,
    compile_rulebook,
    fact_field,
    number,
    part_keys,
)
from rules.conditions import fields_used
from rules.effects import EffectTexts, precedence, stage_outcome
from rules.encoding import FactWriter, json_string
from rules.engine import EngineRuleset
from rules.errors import EngineError, InvalidInput
from rules.facts import FactBuilder, Facts
from rules.handoff import Handoff, rep_label
from rules.horizon import Horizon
from rules.loader import load_rulebook
from rules.models import (
    EvaluationInput,
    EvaluationResult,
    Section,
)
from rules.packing import activity_types, fact_kind
from rules.rulebook import Rulebook
from rules.scoring import ScorePlan
from rules.session import SUBJECT_1_ID, SUBJECT_2_ID, Sessions

_DAY = float(MICROS_PER_DAY)
SECTIONS = frozenset(get_args(Section))
_AGE = re.compile(r'"age":\s*(\d+)')
"""The age of an activity fact in an action's message (only activity facts have an age)."""
_TYPE = re.compile(r'"type":\s*"([^"]*)"')
_NO_AGE, _FROM_NEWEST, _FROM_MESSAGE, _ONE_NEWEST, _ONE_AGE = 0, 1, 2, 3, 4


class Evaluator:
    """A compiled rulebook registered in this process's engine."""

    def __init__(self, rulebook: Rulebook | str | Path, *, reuse_sessions: bool = True) -> None:
        book = rulebook if isinstance(rulebook, Rulebook) else load_rulebook(rulebook)
        self.book = book
        self.compiled: CompiledRulebook = compile_rulebook(book)
        prefix = f"leadgate_{book.version[:12]}"
        self.rulesets = [EngineRuleset(prefix, part) for part in self.compiled.parts]
        """One engine ruleset per part of the compiled rulebook, all given the same facts."""
        self._activity_types = [activity_types(part) for part in self.compiled.parts]
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
        self._handoff = Handoff(book)
        self._lookback = book.lookback_days
        self.sessions = Sessions(self.rulesets, reuse=reuse_sessions)
        """The engine session, reused from lead to lead (rules/session.py)."""
        self._asserted: list[list[int]] = [[] for _ in self.rulesets]
        """Per engine ruleset, the ids of the facts this evaluation asserted, in the order to
        retract them."""
        self._fields = frozenset(
            fact_field(f) for cond in self.compiled.conditions.values() for f in fields_used(cond)
        )
        self.horizon = Horizon(self.compiled)
        compiled = self.compiled
        self._facts = FactBuilder(
            book, self._lookback, compiled.regexes, self._fields, compiled.activity_windows
        )
        self._plan = ScorePlan(book)
        # Per engine ruleset: the subject fields its own rules test (round 1, round 2).
        self._part_keys = [
            (part_keys(self.compiled, part, 1), part_keys(self.compiled, part, 2))
            for part in self.compiled.parts
        ]
        self._score_keys = {name: fact_field(f"scores.{name}") for name in book.scores}
        self._stages = frozenset(book.stages.all)
        self._signal_actions = {
            engine_name: (rule.rule, self._age_from(engine_name))
            for engine_name, rule in self.compiled.rules.items()
        }
        """Engine rule name → (rule name, how the age of its match is found)."""
        self._writers = [
            (FactWriter(keys_1), FactWriter(keys_2)) for keys_1, keys_2 in self._part_keys
        ]
        """Per engine ruleset, the subject facts of rounds 1 and 2 as JSON."""
        self._tails = ("", "", "")
        self._precedence = precedence(book)
        self._effect_texts = EffectTexts(book, compiled, self._plan)
        self.fact_key = (
            self._lookback,
            tuple(sorted(self._fields)),
            tuple(sorted((k, src) for k, (src, _) in compiled.regexes.items())),
            tuple(sorted(compiled.activity_windows.items())),
            tuple((name, s.adjustment_bound) for name, s in book.scores.items()),
        )
        """What this rulebook's facts depend on besides the input (rules/facts.py's
        ``FactBuilder`` arguments): two evaluators with the same key build the same facts of
        an input (rules/pair.py builds them once for both)."""

    def _age_from(self, engine_name: str) -> int:
        """How the age of a match of this engine rule is read from its message."""
        definition = self.compiled.definition.get(engine_name, {})
        patterns = definition.get("all") if isinstance(definition, dict) else None
        one = (
            isinstance(patterns, list)
            and sum(1 for p in patterns for test in p.values() if fact_kind(test).startswith("a:"))
            == 1
        )  # one activity fact bound: the message holds one age and one type
        if engine_name in self._from_newest:
            return _ONE_NEWEST if one else _FROM_NEWEST
        if engine_name in self._needs_message:
            return _ONE_AGE if one else _FROM_MESSAGE
        return _NO_AGE

    def _signal(self, name: str) -> Any:
        return next(s for s in self.book.signals if s.name == name)

    @property
    def leaked_sessions(self) -> int:
        """Sessions not deleted because the engine failed inside them (see ``decide``)."""
        return self.sessions.leaked

    @property
    def version(self) -> str:
        return self.book.version

    @property
    def ruleset(self) -> EngineRuleset:
        """The first engine ruleset (the only one unless the rulebook is large)."""
        return self.rulesets[0]

    def close(self) -> None:
        """Free the engine rulesets (call when no evaluation is in flight).

        The reused session is deleted first: ``delete_ruleset`` frees the ruleset but not the
        frame pools of its sessions."""
        try:
            self.sessions.discard()
        finally:
            for ruleset in self.rulesets:
                ruleset.close()

    def __enter__(self) -> Evaluator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def evaluate(self, inp: EvaluationInput, *, explain: bool = True) -> EvaluationResult:
        """Evaluate one lead: in the evaluator's engine session, left as fresh afterwards.

        ``explain=False`` skips the failed-condition report of rules that did not fire.
        """
        return EvaluationResult.model_validate(self.decide(inp, explain=explain))

    def decide(self, inp: EvaluationInput, *, explain: bool = True) -> dict[str, Any]:
        """The evaluation as plain data with the fields of :class:`EvaluationResult`, built by
        this module's own code (so not validated again per lead: validate at the boundaries)."""
        started = time.perf_counter()
        hits, contributions, scores, subject_2, facts, fired_names = self.match(inp)
        stage = self._stage(inp, fired_names)
        final_stage = stage["to_stage"] or stage["from_stage"]
        routing, sla = self._handoff.route_and_sla(inp, fired_names, final_stage)
        return {
            "rulebook_version": self.book.version,
            "fired": self._effect_texts.fired_list(
                fired_names, contributions, stage, routing, sla, rep_label(inp, routing["rep_id"])
            ),
            "contributions": contributions,
            "scores": scores,
            "stage": stage,
            "routing": routing,
            "sla": sla,
            "not_fired": self._explain(fired_names, subject_2, facts) if explain else [],
            "next_change_at": self.horizon.next_change_of(
                inp, facts.recent, facts.ahead, contributions, scores, hits
            ),
            "duration_ms": round((time.perf_counter() - started) * 1000, 3),
        }

    def facts_of(self, inp: EvaluationInput) -> Facts:
        """The facts of ``inp`` without their engine JSON (:meth:`match` writes that for its
        own session): what rules/pair.py shares between evaluators of equal ``fact_key``."""
        return self._facts.build(inp)

    def match(
        self, inp: EvaluationInput, facts: Facts | None = None
    ) -> tuple[
        dict[str, list[float | None]],
        list[dict[str, Any]],
        dict[str, dict[str, Any]],
        dict[str, Any],
        Facts,
        set[str],
    ]:
        """Both engine rounds of one lead: signal hits, contributions, scores, the round-2
        subject, the facts and the fired rule names. ``facts`` (from :meth:`facts_of` of an
        evaluator with the same ``fact_key``) are used instead of building them again."""
        if inp.lead.stage not in self._stages:
            valid = ", ".join(self.book.stages.all)
            raise InvalidInput(f"unknown stage `{inp.lead.stage}` (valid: {valid})")
        sid = self.sessions.open()
        if facts is None:
            facts = self._facts.build(inp, sid)
        else:
            facts.texts, facts.newest = self._facts._texts(facts.recent, sid)
        self._asserted = [[] for _ in self.rulesets]
        try:
            hits = self._match_signals(sid, facts)
            contributions = self._contributions(hits)
            scores = self._scores(contributions, facts)
            subject_2 = dict(facts.subject)
            score_keys = self._score_keys
            for name, score in scores.items():
                subject_2[score_keys[name]] = number(score["value"])
            fired_names = self._match_decisions(sid, subject_2, facts)
            fired_names.update(hits)
        except EngineError:
            # Deleting a session whose assert failed frees invalid memory and aborts the
            # process (measured: error 303, then "free(): invalid pointer"). Leak it instead;
            # pool workers exit after an engine error so the leak never accumulates.
            self.sessions.leak()
            raise
        except BaseException:
            self.sessions.discard()
            raise
        self._end_session(sid)
        return hits, contributions, scores, subject_2, facts, fired_names

    def decide_brief(self, inp: EvaluationInput, facts: Facts | None = None) -> tuple[Any, ...]:
        """What a simulation counts of :meth:`decide` (rules/brief.py's ``shape`` of it, the
        same values), without what it never reads: no effect texts, SLA, horizon or timing."""
        _, _, scores, _, _, fired = self.match(inp, facts)
        stage = self._stage(inp, fired)
        final_stage = stage["to_stage"] or stage["from_stage"]
        route: tuple[str | None, str | None] = (None, None)
        if final_stage == self._handoff.book.stages.handoff:
            routing, _ = self._handoff.route_and_sla(inp, fired, final_stage)
            route = (routing["route"], routing["rep_id"])
        return (
            self.book.version,
            self._effect_texts.order(fired),
            {name: float(s["value"]) for name, s in scores.items()},
            (stage["from_stage"], stage["to_stage"], stage["rule"], stage["reason"]),
            route,
        )

    def _match_signals(self, sid: str, facts: Facts) -> dict[str, list[float | None]]:
        """Round 1: activities, then the subject. Signal name → ages (days) of its matches.

        Facts are sent as JSON text: the activities as the fact builder wrote them
        (``facts.texts``), the subject field by field (rules.encoding.FactWriter)."""
        texts = facts.texts
        hits: dict[str, list[float | None]] = {}
        signals = self._signal_actions
        newest = facts.newest
        tail = self._tail(sid, 0)
        subject = facts.subject
        single = len(self.rulesets) == 1
        for ruleset, types, (writer, _), asserted in zip(
            self.rulesets, self._activity_types, self._writers, self._asserted, strict=True
        ):
            ids: Sequence[int]
            if single:
                sent, ids = texts, range(len(texts))
            else:
                recent = facts.recent
                ids = [i for i, (_, kind) in enumerate(recent) if kind in types]
                sent = [texts[i] for i in ids]
            fields = writer.fields(subject)
            fields.append(tail)
            frame = "[" + ",".join(sent) + ("," if sent else "") + "{" + ",".join(fields) + "}]"
            for engine_name, message in ruleset.assert_facts(frame):
                signal = signals.get(engine_name)
                if signal is None:
                    continue
                name, how = signal
                age: float | None = None
                if how == _NO_AGE:
                    pass
                elif how == _ONE_AGE:  # one activity in the message: its age
                    found_age = _AGE.match(message, message.find('"age":'))
                    age = int(found_age[1]) / _DAY  # type: ignore[index]
                elif how == _ONE_NEWEST:  # one activity: the newest of its type
                    found_type = _TYPE.match(message, message.find('"type":'))
                    age = newest[found_type[1]] / _DAY  # type: ignore[index]
                elif how == _FROM_NEWEST:
                    age = min(newest[t] for t in _TYPE.findall(message)) / _DAY
                else:
                    # Only activity facts have an "age" key; no JSON parse of the whole frame.
                    age = min(map(int, _AGE.findall(message))) / _DAY
                found = hits.get(name)
                if found is None:
                    hits[name] = [age]
                else:
                    found.append(age)
            asserted += (SUBJECT_1_ID, *ids)  # the subject is retracted first ($not)
        return hits

    def _match_decisions(self, sid: str, subject_2: dict[str, Any], facts: Facts) -> set[str]:
        """Round 2: the subject with scores; names of fired stage/routing/SLA rules."""
        signals = self._signal_actions
        fired = set()
        tail = self._tail(sid, 1)
        for ruleset, decides, (_, writer), asserted in zip(
            self.rulesets, self._decides, self._writers, self._asserted, strict=True
        ):
            if not decides:
                continue
            fields = writer.fields(subject_2)
            fields.append(tail)
            asserted.insert(0, SUBJECT_2_ID)
            for engine_name, _ in ruleset.assert_facts("[{" + ",".join(fields) + "}]"):
                signal = signals.get(engine_name)
                if signal is not None:
                    fired.add(signal[0])
        return fired

    def _tail(self, sid: str, round_: int) -> str:
        """The last fields of a round's subject fact: kind, id and sid."""
        if self._tails[0] != sid:
            quoted = json_string(sid)
            self._tails = (
                sid,
                f'"k":"{SUBJECT_1}","id":{SUBJECT_1_ID},"sid":{quoted}',
                f'"k":"{SUBJECT_2}","id":{SUBJECT_2_ID},"sid":{quoted}',
            )
        return self._tails[1 + round_]

    def _end_session(self, sid: str) -> None:
        """Retract what this evaluation asserted (the session is reused), or delete it."""
        self.sessions.finish(self._asserted)

    def _contributions(self, hits: dict[str, list[float | None]]) -> list[dict[str, Any]]:
        return self._plan.contributions(hits)

    def _scores(
        self, contributions: list[dict[str, Any]], facts: Facts
    ) -> dict[str, dict[str, Any]]:
        return self._plan.scores(contributions, facts.adjustments)

    def _stage(self, inp: EvaluationInput, fired: set[str]) -> dict[str, Any]:
        return stage_outcome(inp.lead.stage, fired, self._precedence)

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
