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
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from rules import conditions as c
from rules.compiler import MICROS_PER_DAY, CompiledRulebook, micros
from rules.models import EvaluationInput

_HALF_STEP = 5e-5
"""Scores are rounded to 4 decimals: ``gte x`` fails once the value is below x - half a step,
``gt x`` once it is below x + half a step. Both moments are candidates."""


_MICROSECOND = timedelta(microseconds=1)
_DAY = float(MICROS_PER_DAY)
_LN2 = math.log(2)
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
        self._decaying = {  # signal → (score, points, per-activity) of decaying scores
            sig.name: (sig.score, sig.points, sig.per_activity)
            for sig in book.signals
            if sig.score in self._half_lives
        }
        self._bounds = {name: (sc.floor, sc.cap) for name, sc in book.scores.items()}
        self._score_limits = {
            name: sorted(v) for name, v in score_limits.items() if name in self._half_lives
        }
        self._age_limits = sorted(age_limits)

    def next_change(
        self,
        inp: EvaluationInput,
        contributions: Sequence[Mapping[str, Any]],
        scores: Mapping[str, Mapping[str, Any]],
        ages: Sequence[int] | None = None,
        hits: Mapping[str, Sequence[float | None]] | None = None,
    ) -> datetime | None:
        """The earliest time after ``inp.now`` at which re-evaluating may give another outcome.

        ``ages``: every activity's age in µs, in input order, if known.
        ``hits``: the fired signals' match ages in days (what the scores were computed from);
        with them a score crossing is exact to the microsecond, else estimated early."""
        now = inp.now
        if ages is None:
            ages = [(now - act.occurred_at) // _MICROSECOND for act in inp.activities]
        kinds = [act.type for act in inp.activities]
        return self.next_change_of(
            inp,
            [(age, kind) for age, kind in zip(ages, kinds, strict=True) if age >= 0],
            [(age, kind) for age, kind in zip(ages, kinds, strict=True) if age < 0],
            contributions,
            scores,
            hits,
        )

    def next_change_of(
        self,
        inp: EvaluationInput,
        seen: Sequence[tuple[int, str]],
        ahead: Sequence[tuple[int, str]],
        contributions: Sequence[Mapping[str, Any]],
        scores: Mapping[str, Mapping[str, Any]],
        hits: Mapping[str, Sequence[float | None]] | None = None,
    ) -> datetime | None:
        """:meth:`next_change` from activities as (age µs, type): ``seen`` (age ≥ 0; those
        older than every window of their type may be left out, as the facts leave them out)
        and ``ahead`` (dated after now)."""
        now = inp.now
        times: list[datetime] = []
        # Every activity time is ``now - age`` exactly (integer µs), so the next window edge
        # is ``now + delay`` with an integer delay; the smallest one is converted once.
        soonest: int | None = None
        windows_of = self._windows
        for age, kind in ahead:  # dated in the future: it enters the facts then (age 0 counts)
            if windows_of.get(kind) and (soonest is None or -age < soonest):
                soonest = -age
        for age, kind in seen:
            windows = windows_of.get(kind)
            if not windows:
                continue
            i = bisect.bisect_left(windows, age)
            if i == len(windows):
                continue
            delay = windows[i] + 1 - age  # inclusive edge: in while age ≤ window
            if soonest is None or delay < soonest:
                soonest = delay
        if self._score_limits:
            crossing = self._score_delay(contributions, scores, hits, soonest)
            if crossing is not None and (soonest is None or crossing < soonest):
                soonest = crossing
        if soonest is not None:
            times.append(now + timedelta(microseconds=soonest))
        for adj in inp.adjustments:
            if adj.expires_at > now:
                times.append(adj.expires_at)
        if self._age_limits and inp.lead.created_at is not None:
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
        if not times:
            return None
        future = [t for t in times if t > now]
        return min(future) if future else None

    def _score_delay(
        self,
        contributions: Sequence[Mapping[str, Any]],
        scores: Mapping[str, Mapping[str, Any]],
        hits: Mapping[str, Sequence[float | None]] | None = None,
        before: int | None = None,
    ) -> int | None:
        """value(t) = D·2^(-Δt/half-life) + K between window changes; when does it pass a limit?

        The soonest crossing as µs from now, never later than the crossing. Each contribution
        and the score are rounded to 4 decimals, so D + K may be off the true value by half a
        step per contribution: the closed form gives the earliest time the crossing can come
        (seconds early at most). A lead evaluated within one such bracket of a crossing gets,
        with ``hits``, the exact microsecond, found by bisection on the score as the evaluator
        computes it (rounding included). So a crossing costs at most one evaluation that
        changes nothing, and the bisection runs only near crossings. Crossings that cannot
        come ``before`` another change are not looked for."""
        limits = self._score_limits
        if not limits:
            return None
        decaying: dict[str, float] = {}
        parts: dict[str, int] = {}
        for part in contributions:
            if part["score"] in limits and part["activity_age_days"] is not None:
                decaying[part["score"]] = decaying.get(part["score"], 0.0) + part["value"]
                parts[part["score"]] = parts.get(part["score"], 0) + 1
        soonest = before
        for name, d in decaying.items():
            if d == 0:
                continue
            score = scores[name]
            k = score["raw"] + score["adjustment"] - d
            half_life = self._half_lives[name] * MICROS_PER_DAY
            slack = (parts[name] + 1) * _HALF_STEP
            sign = 1.0 if d > 0 else -1.0
            value_at: Callable[[int], float] | None = None
            for limit in limits[name]:
                if (score["value"] - limit) * sign < 0:
                    continue  # on the side the score moves to: it never comes back
                for target in (limit - _HALF_STEP, limit + _HALF_STEP):
                    # the earliest the rounded score can reach the target
                    delay = _delay(d, k, target + sign * slack, half_life)
                    if delay is None or (soonest is not None and delay >= soonest):
                        continue
                    # Within one bracket of now? Its width is 2·slack over the decay rate at
                    # the crossing, |target - K|·ln 2 / half-life.
                    gap = abs(target - k)
                    if hits and gap > 0 and delay * gap * _LN2 <= 2 * slack * half_life:
                        latest = _delay(d, k, target - sign * slack, half_life)
                        value_at = value_at or self._value_at(name, contributions, score, hits)
                        if value_at is not None:
                            flip = _first_flip(value_at, score["value"], limit, sign, latest)
                            if flip is None:  # not by the latest time for this target
                                continue
                            delay = flip
                    if soonest is None or delay < soonest:
                        soonest = max(delay, 1)
        return soonest if soonest != before else None

    def _value_at(
        self,
        name: str,
        contributions: Sequence[Mapping[str, Any]],
        score: Mapping[str, Any],
        hits: Mapping[str, Sequence[float | None]],
    ) -> Callable[[int], float] | None:
        """The score ``name`` as the evaluator computes it ``t`` µs from now (same matches,
        same order of sums, same rounding); None when a contribution is not reproducible."""
        half_life = self._half_lives[name]
        terms: list[tuple[float, list[int]] | float] = []
        for part in contributions:
            if part["score"] != name:
                continue
            signal = self._decaying.get(part["signal"])
            ages = hits.get(part["signal"])
            if part["activity_age_days"] is None:
                terms.append(part["value"])
                continue
            if signal is None or ages is None:
                return None
            known = [round(a * MICROS_PER_DAY) for a in ages if a is not None]
            if not signal[2]:
                known = [min(known)]
            terms.append((signal[1], known))
        floor, cap = self._bounds[name]
        adjustment = score["adjustment"]

        def value_at(t: int) -> float:
            raw = 0.0
            for term in terms:
                if isinstance(term, float | int):
                    raw += term
                    continue
                points, known = term
                total = sum(0.5 ** (((a + t) / _DAY) / half_life) for a in known)
                raw += round(points * total, 4)
            return float(round(max(floor, min(cap, raw + adjustment)), 4))

        return value_at


def _first_flip(
    value_at: Callable[[int], float], v0: float, limit: float, sign: float, latest: int | None
) -> int | None:
    """The first µs at which ``gte``/``gt`` (falling, ``sign`` 1) or ``lte``/``lt`` (rising)
    on ``limit`` changes, given the value now; None if it does not before ``latest``."""
    if (v0 - limit) * sign < 0:
        return None  # on the side the score moves to: it never comes back
    strict = v0 != limit  # `gt`/`lt` change on reaching the limit, `gte`/`lte` once past it

    def flipped(t: int) -> bool:
        gap = (value_at(t) - limit) * sign
        return gap <= 0 if strict else gap < 0

    lo, hi = 0, _MAX_DELAY if latest is None else max(latest, 1)
    if not flipped(hi):
        return None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if flipped(mid):
            hi = mid
        else:
            lo = mid
    return hi


def _delay(d: float, k: float, target: float, half_life: float) -> int | None:
    """µs until D·2^(-t/half-life) + K reaches ``target`` (rounded down, at least 1); None if
    never; 0 if it is there already."""
    ratio = (target - k) / d
    if ratio >= 1:
        return 0
    if ratio <= 0:
        return None
    delay = max(math.floor(-half_life * math.log2(ratio)), 1)
    return delay if delay < _MAX_DELAY else None


def _numbers(value: c.Scalar | tuple[c.Scalar, ...] | None) -> list[float]:
    values = value if isinstance(value, tuple) else (value,)
    return [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
