"""The near-miss report: what stands between a lead and the handoff stage, and what would close it.

Three questions are kept apart: why (not) qualified, why this owner, why this deadline. For a
lead that is not qualified, every rule leading to the handoff stage is listed closest first, its
failed conditions in words, the new activities that would make it fire, and when decay alone
will change the answer.

Built on the evaluation result (the explainer's failed conditions), so it works the same on a
fresh evaluation and on one replayed from its stored input. "What would close the gap" is not
guessed: :func:`what_ifs` lists the inputs to try (the lead plus one new activity now) and the
caller evaluates them with the same engine (in-process or through the pool), so every
suggestion was seen to make its rule fire.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from rules import conditions as c
from rules.catalogue import ACTIVITY_TYPES
from rules.models import ActivityData, EvaluationInput, EvaluationResult
from rules.nearmiss_words import ConditionGap, describe, leaves_by_text
from rules.rulebook import Rulebook, Transition


@dataclass(frozen=True)
class Closer:
    """One new activity that makes a rule fire (seen by evaluating the lead with it)."""

    activity: str
    rule: str
    gains: dict[str, float]
    """Score → points it adds (after decay and caps)."""
    signals: tuple[str, ...]
    """Signals that had not fired and fire with it."""
    message: str


@dataclass(frozen=True)
class RuleGap:
    rule: str
    to_stage: str
    failed: tuple[ConditionGap, ...]
    closers: tuple[Closer, ...]
    applies: bool
    """False when the lead's stage is outside the rule's ``from``."""
    summary: str


@dataclass(frozen=True)
class DecayChange:
    """A score threshold a rule uses that the score will cross by decay alone."""

    rule: str
    score: str
    threshold: float
    at: datetime
    message: str


@dataclass(frozen=True)
class NearMiss:
    headline: str
    handoff_stage: str
    status: str
    """``qualified``, ``not_qualified``, ``disqualified`` or ``beyond`` (already past handoff)."""
    why_not_qualified: tuple[RuleGap, ...]
    disqualified: str | None
    decay: tuple[DecayChange, ...]
    why_owner: str
    why_deadline: str


def handoff_rules(book: Rulebook) -> list[Transition]:
    """Qualification rules that lead to the handoff stage, in file order."""
    stage = book.stages.handoff
    return [t for t in book.transitions if t.to == stage and t.section == "qualification"]


def status_of(book: Rulebook, result: EvaluationResult) -> str:
    """qualified / not_qualified / disqualified / beyond, from the stage decision."""
    stage = result.stage.to_stage or result.stage.from_stage
    order = book.stages.order
    handoff = book.stages.handoff
    if stage == "disqualified":
        return "disqualified"
    if handoff is None or handoff not in order:
        return "beyond"
    if stage == handoff and result.stage.to_stage == handoff:
        return "qualified"
    if stage in order and order.index(stage) >= order.index(handoff):
        return "beyond"
    return "not_qualified"


def what_ifs(
    book: Rulebook, inp: EvaluationInput, result: EvaluationResult
) -> dict[str, EvaluationInput]:
    """Inputs to evaluate: the lead plus one activity of each useful type, dated ``now``."""
    if status_of(book, result) != "not_qualified":
        return {}
    types: set[str] = set()
    conds = [t.when for t in handoff_rules(book)] + [s.when for s in book.signals]
    for cond in conds:
        for node in c.walk(cond):
            if isinstance(node, c.ActivityCount):
                types.add(node.type)
            elif isinstance(node, c.Sequence):
                types.add(node.then)
    out = {}
    for kind in sorted(types & set(ACTIVITY_TYPES)):
        added = ActivityData(type=kind, occurred_at=inp.now)
        out[kind] = inp.model_copy(update={"activities": [*inp.activities, added]})
    return out


def near_miss(
    book: Rulebook,
    inp: EvaluationInput,
    result: EvaluationResult,
    outcomes: Mapping[str, EvaluationResult] | None = None,
) -> NearMiss:
    """The report; ``outcomes`` are the results of :func:`what_ifs` (by activity type)."""
    status = status_of(book, result)
    handoff = book.stages.handoff or ""
    gaps = _gaps(book, result, outcomes or {}) if status == "not_qualified" else []
    decay = _decay_changes(book, inp, result) if status == "not_qualified" else []
    disq = _disqualified(book, result) if status == "disqualified" else None
    return NearMiss(
        headline=_headline(status, handoff, result, gaps, disq),
        handoff_stage=handoff,
        status=status,
        why_not_qualified=tuple(gaps),
        disqualified=disq,
        decay=tuple(decay),
        why_owner=_why_owner(result),
        why_deadline=_why_deadline(result),
    )


def near_miss_headline(book: Rulebook, result: EvaluationResult) -> str:
    """The headline alone (no what-ifs, no input needed): cheap enough for list pages."""
    status = status_of(book, result)
    gaps = _gaps(book, result, {}) if status == "not_qualified" else []
    disq = _disqualified(book, result) if status == "disqualified" else None
    return _headline(status, book.stages.handoff or "", result, gaps, disq)


def _gaps(
    book: Rulebook, result: EvaluationResult, outcomes: Mapping[str, EvaluationResult]
) -> list[RuleGap]:
    return sorted(
        (_rule_gap(book, t, result, outcomes) for t in handoff_rules(book)), key=_distance
    )


def _rule_gap(
    book: Rulebook,
    t: Transition,
    result: EvaluationResult,
    outcomes: Mapping[str, EvaluationResult],
) -> RuleGap:
    explained = next((n for n in result.not_fired if n.rule == t.name), None)
    leaves = leaves_by_text(t.when)
    failed: list[ConditionGap] = []
    applies = True
    for f in explained.failed if explained else []:
        leaf = leaves.get(f.condition)
        if leaf is None and f.condition.startswith("lead.stage in "):
            applies = False
            allowed = f.condition.removeprefix("lead.stage in ").strip("[]")
            msg = f"the lead is {f.actual}; this rule only moves leads from {allowed}"
            failed.append(ConditionGap(f.condition, msg))
            continue
        failed.append(describe(f, leaf, book, result))
    closers = tuple(_closers(book, t, result, outcomes)) if applies else ()
    words = "; ".join(g.message for g in failed) or "all conditions hold"
    return RuleGap(t.name, t.to, tuple(failed), closers, applies, f"{t.name}: {words}")


def _closers(
    book: Rulebook,
    t: Transition,
    result: EvaluationResult,
    outcomes: Mapping[str, EvaluationResult],
) -> list[Closer]:
    out = []
    for kind, after in sorted(outcomes.items()):
        if t.name not in after.fired_names or after.stage.to_stage != t.to:
            continue
        gains = {
            name: round(after.scores[name].value - score.value, 4)
            for name, score in result.scores.items()
            if name in after.scores and after.scores[name].value != score.value
        }
        before = {f.name for f in result.fired}
        signals = tuple(
            f.name for f in after.fired if f.section == "signals" and f.name not in before
        )
        shown = ", ".join(f"{v:+g} {name}" for name, v in gains.items())
        article = "an" if kind[0] in "aeiou" else "a"
        what = f"{article} {kind}" + (f" ({shown})" if shown else "")
        message = f"{what} would qualify this lead by rule {t.name}"
        out.append(Closer(kind, t.name, gains, signals, message))
    return out


def _distance(gap: RuleGap) -> tuple[int, int, float]:
    """Closest first: rules that apply, fewest failed conditions, smallest relative shortfall."""
    shortfall = sum((g.short_by or 0.0) / 100 if g.score else 1.0 for g in gap.failed)
    return (0 if gap.applies else 1, len(gap.failed), shortfall)


def _headline(
    status: str, handoff: str, result: EvaluationResult, gaps: list[RuleGap], disq: str | None
) -> str:
    stage = result.stage
    if status == "qualified":
        return f"Moved {stage.from_stage} → {stage.to_stage} by rule {stage.rule}"
    if status == "disqualified":
        return f"Disqualified: {disq}"
    if status == "beyond":
        return f"Already {stage.to_stage or stage.from_stage}"
    if not gaps:
        return f"Not {handoff} yet: no rule leads to {handoff}"
    best = gaps[0]
    words = "; ".join(g.message for g in best.failed)
    # No failed condition at hand (a result evaluated without "why not"): no empty "()".
    line = f"Not {handoff} yet: closest is rule {best.rule}" + (f" ({words})" if words else "")
    if best.closers:
        line += f"; {best.closers[0].message}"
    return line


def _disqualified(book: Rulebook, result: EvaluationResult) -> str:
    labels = book.reason_labels.get("disqualify", {})
    if result.stage.to_stage == "disqualified" and result.stage.rule:
        reason = result.stage.reason or ""
        label = labels.get(reason, reason)
        shown = f"{reason} ({label})" if label and label != reason else reason
        return f"rule {result.stage.rule}, reason {shown}"
    fired = [f.name for f in result.fired if f.section == "disqualification"]
    rules = f" (disqualification rules that still match: {', '.join(fired)})" if fired else ""
    return f"the lead was already disqualified before this evaluation{rules}"


def _why_owner(result: EvaluationResult) -> str:
    routing = result.routing
    if routing.rep_id:
        return f"owner {routing.rep_id}: {routing.why}"
    return f"no owner: {routing.why}"


def _why_deadline(result: EvaluationResult) -> str:
    sla = result.sla
    if sla is None:
        return "no deadline: the SLA applies only at the handoff stage"
    source = f"rule {sla.rule}" if sla.rule else "the default priority"
    clock = "of the owner's working time" if sla.clock == "business" else "on the wall clock"
    start = f", counted from {sla.starts_at.isoformat()} (queued)" if sla.starts_at else ""
    return (
        f"{sla.priority} ({sla.hours:g} h {clock} to first touch, set by {source}{start}): "
        f"due {sla.deadline.isoformat()}"
    )


def _decay_changes(
    book: Rulebook, inp: EvaluationInput, result: EvaluationResult
) -> list[DecayChange]:
    """Score thresholds of handoff rules that hold now and that decay alone will break."""
    out: list[DecayChange] = []
    seen: set[tuple[str, float, str]] = set()
    for t in handoff_rules(book):
        for node in c.walk(t.when):
            if not (
                isinstance(node, c.Compare)
                and node.field.startswith("scores.")
                and node.op in ("gte", "gt")
                and isinstance(node.value, int | float)
            ):
                continue
            name = node.field.split(".", 1)[1]
            score = result.scores.get(name)
            threshold = float(node.value)
            if score is None or (name, threshold, node.op) in seen:
                continue
            if not (score.value > threshold or (node.op == "gte" and score.value == threshold)):
                continue
            seen.add((name, threshold, node.op))
            after = _crossing(book, result, name, threshold)
            if after is None:
                continue
            at = inp.now + after
            message = (
                f"{name} falls below {threshold:g} on {at.date().isoformat()} without new "
                f"activity (rule {t.name} needs it)"
            )
            out.append(DecayChange(t.name, name, threshold, at, message))
    return sorted(out, key=lambda d: d.at)


def _crossing(
    book: Rulebook, result: EvaluationResult, name: str, threshold: float
) -> timedelta | None:
    """How long until the score drops below ``threshold`` by decay and expiring windows.

    Each activity contribution decays with the score's half-life and vanishes when its newest
    activity leaves the signal's longest window; the rest (field signals, adjustments) stays.
    Adjustments that expire are not modelled.
    """
    definition = book.scores[name]
    signals = {s.name: s for s in book.signals}
    moving: list[tuple[float, float]] = []  # (value now, days until it vanishes)
    steady = result.scores[name].adjustment
    for part in result.contributions:
        if part.score != name:
            continue
        signal = signals.get(part.signal)
        if part.activity_age_days is None or signal is None:
            steady += part.value
            continue
        window = c.max_window_days(signal.when)
        moving.append((part.value, max(window - part.activity_age_days, 0.0)))
    if threshold <= definition.floor or not moving:
        return None
    half_life = definition.half_life_days
    need = threshold - steady
    if need <= 0:
        return None  # what does not decay keeps the score above the threshold
    points = sorted({0.0, *(until for _, until in moving)})
    for i, start in enumerate(points):
        end = points[i + 1] if i + 1 < len(points) else math.inf
        alive = sum(v for v, until in moving if until > start)
        if alive * _factor(start, half_life) < need:
            return timedelta(days=start)  # a window closed just after ``start``
        if half_life:
            # alive * 0.5^(d/h) = need  <=>  d = h * log2(alive / need)
            cross = half_life * math.log2(alive / need)
            if cross < end:
                return timedelta(days=max(cross, start))
    return None


def _factor(days: float, half_life: float | None) -> float:
    return 0.5 ** (days / half_life) if half_life else 1.0
