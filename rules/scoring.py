"""Scores from fired signals: decayed contributions, adjustments, floors and caps.

The engine decides which signals fire (and the ages of what they matched); this turns that into
numbers. Per-rulebook lookups are done once (:class:`ScorePlan`), as it runs for every lead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rules.rulebook import Rulebook


class ScorePlan:
    """What the outcome code reads per signal and score, looked up once per rulebook."""

    def __init__(self, book: Rulebook) -> None:
        self.order = {s.name: i for i, s in enumerate(book.signals)}
        self.signals = {
            s.name: (
                s.score,
                s.points,
                book.scores[s.score].half_life_days,
                s.per_activity,
                round(s.points * 1.0, 4),
            )
            for s in book.signals
        }
        self.names = list(book.scores)
        self._flat = {  # signals of scores without decay, as their contribution (age unknown)
            name: {
                "signal": name,
                "score": score,
                "points": points,
                "matches": 1,
                "decay_factor": 1.0,
                "value": flat,
                "activity_age_days": None,
            }
            for name, (score, points, half_life, _, flat) in self.signals.items()
            if not half_life
        }
        self._decaying = {
            name: (score, points, half_life, per_activity)
            for name, (score, points, half_life, per_activity, _) in self.signals.items()
            if half_life
        }
        self.limits = [(name, d.floor, d.cap) for name, d in book.scores.items()]

    def contributions(self, hits: dict[str, list[float | None]]) -> list[dict[str, Any]]:
        """One contribution per fired signal; per-activity signals sum their decayed matches."""
        out: list[dict[str, Any]] = []
        decaying, flat_parts = self._decaying, self._flat
        for name in sorted(hits, key=self.order.__getitem__):
            ages = hits[name]
            flat = flat_parts.get(name)
            if flat is not None:  # no decay: one full-value contribution
                part = flat.copy()
                if len(ages) != 1 or ages[0] is not None:
                    known = [a for a in ages if a is not None]
                    if known:
                        part["activity_age_days"] = round(min(known), 4)
                out.append(part)
                continue
            score, points, half_life, per_activity = decaying[name]
            known = [a for a in ages if a is not None]
            if not known:
                factors = [1.0]
            elif per_activity:
                factors = [0.5 ** (age / half_life) for age in known]
            else:
                known = [min(known)]
                factors = [0.5 ** (known[0] / half_life)]
            total = sum(factors)
            count = len(factors)
            out.append(
                {
                    "signal": name,
                    "score": score,
                    "points": points,
                    "matches": count,
                    "decay_factor": round(total / count, 6),
                    "value": round(points * total, 4),
                    "activity_age_days": round(min(known), 4) if known else None,
                }
            )
        return out

    def scores(
        self, contributions: list[dict[str, Any]], adjustments: Mapping[str, float]
    ) -> dict[str, dict[str, Any]]:
        """Sum per score, plus bounded adjustments, clamped to [floor, cap]."""
        raw = dict.fromkeys(self.names, 0.0)
        for contribution in contributions:
            raw[contribution["score"]] += contribution["value"]
        out = {}
        for name, floor, cap in self.limits:
            adjustment = adjustments.get(name, 0.0)
            value = max(floor, min(cap, raw[name] + adjustment))
            out[name] = {
                "name": name,
                "raw": round(raw[name], 4),
                "adjustment": adjustment,
                "value": round(value, 4),
                "cap": cap,
            }
        return out
