"""When can an evaluation's outcome change by itself, without new input?

Only the clock moves an outcome between inputs: an activity leaves a window a condition counts
in, a decaying score crosses a threshold a condition tests, the lead's age crosses a threshold,
or a targeting adjustment expires. The earliest of those times is stored with the evaluation so
the scheduler re-evaluates a lead then, and not on a blind schedule (DESIGN.md §6).
The answer is conservative: it may name a time at which nothing changes, never a time too late.
Activity ages and windows are integer microseconds (rules.facts), so window times are computed
in exact integer microseconds too: an activity counts while ``age ≤ window`` and leaves the
window 1 µs later; an activity dated in the future enters the facts at its own time.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from rules import conditions as c
from rules.compiler import MICROS_PER_DAY, CompiledRulebook, micros
from rules.models import EvaluationInput

_HALF_STEP = 5e-5
"""Scores are rounded to 4 decimals: ``gte x`` fails once the value is below x - half a step,
``gt x`` once it is below x + half a step. Both moments are candidates."""


_MICROSECOND = timedelta(microseconds=1)
_MAX_DELAY = 1_000 * 365 * MICROS_PER_DAY
"""Crossings further away than this (a millennium) are never due: not a change."""


class Horizon:
    """Precomputed per rulebook: windows per activity type and thresholds per field."""

    def __init__(self, compiled: CompiledRulebook) -> None:
        book = compiled.book
        windows: dict[str, set[int]] = {}  # µs, like the facts' ages
        score_limits: dict[str, set[float]] = {}
        age_limits: set[float] = set()
        for cond in compiled.conditions.values():
            for node in c.walk(cond):
                if isinstance(node, c.ActivityCount):
                    windows.setdefault(node.type, set()).add(micros(node.within_days))
                elif isinstance(node, c.Sequence):
                    windows.setdefault(node.first, set()).add(micros(node.in_last_days))
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
        ages: Sequence[int] | None = None,
    ) -> datetime | None:
        """The earliest time after ``inp.now`` at which re-evaluating may give another outcome.

        ``ages``: every activity's age in µs, in input order (``Facts.ages``), if known."""
        now = inp.now
        times: list[datetime] = []
        if ages is None:
            ages = [(now - act.occurred_at) // _MICROSECOND for act in inp.activities]
        # Every activity time is ``now - age`` exactly (integer µs), so the next window edge
        # is ``now + delay`` with an integer delay; the smallest one is converted once.
        soonest: int | None = None
        windows_of = self._windows
        for age, act in zip(ages, inp.activities, strict=True):
            windows = windows_of.get(act.type)
            if not windows:
                continue
            if age < 0:  # dated in the future: it enters the facts then (age 0 counts)
                delay = -age
            else:
                i = bisect.bisect_left(windows, age)
                if i == len(windows):
                    continue
                delay = windows[i] + 1 - age  # inclusive edge: in while age ≤ window
            if soonest is None or delay < soonest:
                soonest = delay
        crossing = self._score_delay(contributions, scores)
        if crossing is not None and (soonest is None or crossing < soonest):
            soonest = crossing
        if soonest is not None:
            times.append(now + timedelta(microseconds=soonest))
        for adj in inp.adjustments:
            if adj.expires_at > now:
                times.append(adj.expires_at)
        if inp.lead.created_at is not None:
            # ``lead.age_days`` is (now - created_at) / 1 day, compared without rounding: the
            # limit is crossed at created_at + days (``gte``) or 1 µs later (``gt``); 1 µs
            # earlier too, in case the float limit rounds down to a whole microsecond.
            born = inp.lead.created_at
            for days in self._age_limits:
                if days * MICROS_PER_DAY > _MAX_DELAY:  # never reached: not a change
                    break
                edge = born + timedelta(microseconds=round(days * MICROS_PER_DAY))
                later = [edge + timedelta(microseconds=d) for d in (-1, 0, 1)]
                after = [at for at in later if at > now]
                if after:
                    times.append(after[0])
                    break
        future = [t for t in times if t > now]
        return min(future) if future else None

    def _score_delay(
        self,
        contributions: Iterable[Mapping[str, Any]],
        scores: Mapping[str, Mapping[str, Any]],
    ) -> int | None:
        """value(t) = D·2^(-Δt/half-life) + K between window changes; when does it pass a limit?

        The soonest crossing as µs from now, rounded down: never later than the crossing."""
        limits = self._score_limits
        if not limits:
            return None
        decaying: dict[str, float] = {}
        for part in contributions:
            if part["score"] in limits and part["activity_age_days"] is not None:
                decaying[part["score"]] = decaying.get(part["score"], 0.0) + part["value"]
        soonest: int | None = None
        for name, d in decaying.items():
            if d == 0:
                continue
            score = scores[name]
            k = score["raw"] + score["adjustment"] - d
            half_life = self._half_lives[name] * MICROS_PER_DAY
            for limit in limits[name]:
                for target in (limit - _HALF_STEP, limit + _HALF_STEP):
                    ratio = (target - k) / d
                    if 0 < ratio < 1:
                        delay = math.floor(-half_life * math.log2(ratio))
                        delay = max(delay, 1)
                        if delay < _MAX_DELAY and (soonest is None or delay < soonest):
                            soonest = delay
        return soonest


def _numbers(value: c.Scalar | tuple[c.Scalar, ...] | None) -> list[float]:
    values = value if isinstance(value, tuple) else (value,)
    return [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
