"""When can an evaluation's outcome change by itself, without new input?

Only the clock moves an outcome between inputs: an activity leaves a window a condition counts
in, a decaying score crosses a threshold a condition tests, the lead's age crosses a threshold,
or a targeting adjustment expires. The earliest of those times is stored with the evaluation so
the scheduler re-evaluates a lead then, and not on a blind schedule (DESIGN.md §6).
The answer is conservative: it may name a time at which nothing changes, never a time too late.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from rules import conditions as c
from rules.compiler import CompiledRulebook, seconds
from rules.models import EvaluationInput

_HALF_STEP = 5e-5
"""Scores are rounded to 4 decimals: ``gte x`` fails once the value is below x - half a step,
``gt x`` once it is below x + half a step. Both moments are candidates."""


class Horizon:
    """Precomputed per rulebook: windows per activity type and thresholds per field."""

    def __init__(self, compiled: CompiledRulebook) -> None:
        book = compiled.book
        windows: dict[str, set[int]] = {}
        score_limits: dict[str, set[float]] = {}
        age_limits: set[float] = set()
        for cond in compiled.conditions.values():
            for node in c.walk(cond):
                if isinstance(node, c.ActivityCount):
                    windows.setdefault(node.type, set()).add(seconds(node.within_days))
                elif isinstance(node, c.Sequence):
                    windows.setdefault(node.first, set()).add(seconds(node.in_last_days))
                elif isinstance(node, c.Compare):
                    values = _numbers(node.value)
                    if node.field.startswith("scores."):
                        score_limits.setdefault(node.field[7:], set()).update(values)
                    elif node.field == "lead.age_days":
                        age_limits.update(values)
        for kind, oldest in compiled.activity_windows.items():  # facts drop older activities
            windows.setdefault(kind, set()).add(oldest)
        self._windows = {k: sorted(v) for k, v in windows.items()}
        self._half_lives = {
            name: s.half_life_days for name, s in book.scores.items() if s.half_life_days
        }
        self._score_limits = {
            name: sorted(v) for name, v in score_limits.items() if name in self._half_lives
        }
        self._age_limits = sorted(age_limits)

    def next_change(
        self,
        inp: EvaluationInput,
        contributions: Iterable[Mapping[str, Any]],
        scores: Mapping[str, Mapping[str, Any]],
    ) -> datetime | None:
        """The earliest time after ``inp.now`` at which re-evaluating may give another outcome."""
        now = inp.now
        now_ts = now.timestamp()
        times: list[float] = []
        for act in inp.activities:
            windows = self._windows.get(act.type)
            if not windows:
                continue
            t = act.occurred_at.timestamp()
            age = now_ts - t
            if age < 0:  # dated in the future: it enters the facts then
                times.append(t)
                continue
            i = bisect.bisect_left(windows, math.floor(age))
            if i < len(windows):  # facts use whole-second ages: out once age ≥ window + 1
                times.append(t + windows[i] + 1)
        for adj in inp.adjustments:
            if adj.expires_at > now:
                times.append(adj.expires_at.timestamp())
        if inp.lead.created_at is not None:
            born = inp.lead.created_at.timestamp()
            for days in self._age_limits:
                at = born + days * 86400 + 1
                if at > now_ts:
                    times.append(at)
                    break
        times.extend(self._score_crossings(now_ts, contributions, scores))
        future = [t for t in times if t > now_ts]
        if not future:
            return None
        return datetime.fromtimestamp(min(future), UTC)

    def _score_crossings(
        self,
        now_ts: float,
        contributions: Iterable[Mapping[str, Any]],
        scores: Mapping[str, Mapping[str, Any]],
    ) -> list[float]:
        """value(t) = D·2^(-Δt/half-life) + K between window changes; when does it pass a limit?"""
        decaying: dict[str, float] = {}
        for part in contributions:
            if part["score"] in self._score_limits and part["activity_age_days"] is not None:
                decaying[part["score"]] = decaying.get(part["score"], 0.0) + part["value"]
        out = []
        for name, d in decaying.items():
            if d == 0:
                continue
            score = scores[name]
            k = score["raw"] + score["adjustment"] - d
            half_life = self._half_lives[name] * 86400
            for limit in self._score_limits[name]:
                for target in (limit - _HALF_STEP, limit + _HALF_STEP):
                    ratio = (target - k) / d
                    if 0 < ratio < 1:
                        out.append(now_ts - half_life * math.log2(ratio))
        return out


def _numbers(value: c.Scalar | tuple[c.Scalar, ...] | None) -> list[float]:
    values = value if isinstance(value, tuple) else (value,)
    return [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
