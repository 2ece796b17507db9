"""Each fired rule's effect in words, and the precedence among stage transitions.

Split from rules/evaluator.py: what the evaluator writes about a decision once it is made
(brief decisions, rules/pair.py, write none of it).
"""

from __future__ import annotations

from typing import Any

from rules.compiler import CompiledRulebook
from rules.rulebook import Rulebook, Transition
from rules.scoring import ScorePlan


class EffectTexts:
    """The effect texts of one rulebook's rules; those that depend only on the rulebook
    (signals of scores without decay) or on a few values (stage rules) are made once."""

    def __init__(self, book: Rulebook, compiled: CompiledRulebook, plan: ScorePlan) -> None:
        self._sections = compiled.sections
        self._order = {r: i for i, r in enumerate(compiled.conditions)}
        self._signals = {s.name: s for s in book.signals}
        self._transitions = {t.name: t for t in book.transitions}
        self._sla_rules = {r.name: r for r in book.sla.rules}
        self._effects = {  # signals of scores without decay: always their full points
            s.name: f"{s.score} {points:+g}"
            for s in book.signals
            if not book.scores[s.score].half_life_days
            for points in [plan.signals[s.name][4]]
        }
        self._stage_effects: dict[tuple[str, str, bool], str] = {}

    def order(self, fired: set[str]) -> list[str]:
        """Fired rule names in file order (the order results list them in)."""
        return sorted(fired, key=self._order.__getitem__)

    def fired_list(
        self,
        fired: set[str],
        contributions: list[dict[str, Any]],
        stage: dict[str, Any],
        routing: dict[str, Any],
        sla: dict[str, Any] | None,
        rep_label: str | None,
    ) -> list[dict[str, Any]]:
        """Each fired rule with its effect in words. Decayed values and routes are written per
        lead."""
        sections = self._sections
        texts = self._effects
        values: dict[str, float] | None = None
        out = []
        for name in self.order(fired):
            section = sections[name]
            effect = texts.get(name)
            if effect is not None:
                pass
            elif section == "signals":
                if values is None:
                    values = {c["signal"]: c["value"] for c in contributions}
                effect = f"{self._signals[name].score} {values.get(name, 0.0):+g}"
            elif section in ("qualification", "disqualification"):
                key = (name, stage["from_stage"], stage["rule"] == name)
                effect = self._stage_effects.get(key)
                if effect is None:
                    t = self._transitions[name]
                    chosen = "" if key[2] else " (not applied: another transition won)"
                    reason = f" reason {t.reason}" if t.reason else ""
                    effect = f"stage {key[1]} → {t.to}{reason}{chosen}"
                    self._stage_effects[key] = effect
            elif section == "routing":
                applied = f" → {rep_label}" if routing["route"] == name else ""
                effect = f"route {name}{applied}"
            else:
                applied = " (applied)" if sla and sla["rule"] == name else ""
                effect = f"priority {self._sla_rules[name].priority}{applied}"
            out.append({"name": name, "section": section, "effect": effect})
        return out


def precedence(book: Rulebook) -> dict[str, tuple[tuple[int, int, int, int], Transition]]:
    """Transition name → its rank (lowest wins: disqualification, then side stages, then the
    most advanced stage, then file order) and the transition."""
    order = book.stages.order
    out: dict[str, tuple[tuple[int, int, int, int], Transition]] = {}
    for i, t in enumerate(book.transitions):
        disq = 1 if t.section == "disqualification" else 0
        side = 1 if t.to not in order else 0
        rank = order.index(t.to) if t.to in order else len(order)
        out.setdefault(t.name, ((-disq, -side, -rank, i), t))
    return out


def stage_outcome(
    current: str,
    fired: set[str],
    ranks: dict[str, tuple[tuple[int, int, int, int], Transition]],
) -> dict[str, Any]:
    """The stage outcome of the fired rules (``ranks``: :func:`precedence`'s): disqualification
    wins; then side stages (recycle); then the most advanced stage (the first in file order
    among equals)."""
    chosen: Transition | None = None
    best: tuple[int, int, int, int] | None = None
    for name in fired:
        ranked = ranks.get(name)
        if ranked is None or ranked[1].to == current:
            continue
        if best is None or ranked[0] < best:
            best, chosen = ranked
    if chosen is None:
        return {"from_stage": current, "to_stage": None, "rule": None, "reason": None}
    return {
        "from_stage": current,
        "to_stage": chosen.to,
        "rule": chosen.name,
        "reason": chosen.reason,
    }
