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
        self.limits = [(name, d.floor, d.cap) for name, d in book.scores.items()]

    def contributions(self, hits: dict[str, list[float | None]]) -> list[dict[str, Any]]:
        """One contribution per fired signal; per-activity signals sum their decayed matches."""
        out: list[dict[str, Any]] = []
        for name in sorted(hits, key=self.order.__getitem__):
            ages = hits[name]
            score, points, half_life, per_activity, flat = self.signals[name]
            known = [a for a in ages if a is not None]
            if not half_life:  # no decay: one full-value contribution (as below, precomputed)
                age = round(min(known), 4) if known else None
                out.append(
                    {
                        "signal": name,
                        "score": score,
                        "points": points,
                        "matches": 1,
                        "decay_factor": 1.0,
                        "value": flat,
                        "activity_age_days": age,
                    }
                )
                continue
            if not per_activity:
                known = [min(known)] if known else []
            factors = [1.0] if not known else [0.5 ** (age / half_life) for age in known]
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
