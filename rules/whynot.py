""" "Why not" on demand: replay a stored input on its rulebook version, without the engine.

An evaluation record keeps what was decided (fired rules, scores); the failed conditions of the
rules that did not fire are derived from the stored input and the rulebook version, so they are
computed when someone asks instead of being stored with every evaluation. The facts are built
exactly as the evaluator builds them, and the explainer mirrors the engine's semantics (a
property test compares this replay with the evaluation-time report).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from rules import explainer
from rules.compiler import CompiledRulebook, compile_rulebook, fact_field, number
from rules.conditions import fields_used
from rules.facts import build_facts
from rules.models import EvaluationInput, RuleExplanation
from rules.rulebook import Rulebook


class WhyNot:
    """The explainer over one compiled rulebook (pure Python: no engine ruleset registered)."""

    def __init__(self, rulebook: Rulebook | CompiledRulebook) -> None:
        if isinstance(rulebook, CompiledRulebook):
            compiled = rulebook
        else:
            compiled = compile_rulebook(rulebook)
        self.compiled = compiled
        self.version = compiled.book.version
        self._fields = frozenset(
            fact_field(f) for cond in compiled.conditions.values() for f in fields_used(cond)
        )

    def not_fired(
        self,
        inp: EvaluationInput,
        *,
        fired: Collection[str],
        scores: Mapping[str, float],
        only: Collection[str] | None = None,
    ) -> list[RuleExplanation]:
        """Failed conditions of every rule not in ``fired`` (or of ``only`` those rules).

        ``scores`` are the final score values the evaluation computed (stored with it).
        """
        compiled = self.compiled
        book = compiled.book
        facts = build_facts(
            book, inp, book.lookback_days, compiled.regexes, self._fields, compiled.activity_windows
        )
        subject = dict(facts.subject)
        for name, value in scores.items():
            subject[fact_field(f"scores.{name}")] = number(value)
        sections = compiled.sections
        return [
            RuleExplanation.model_validate(
                {
                    "rule": name,
                    "section": sections[name],
                    "failed": explainer.failures(cond, subject, facts.activities),
                }
            )
            for name, cond in compiled.conditions.items()
            if name not in fired and (only is None or name in only)
        ]
