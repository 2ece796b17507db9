"""The typed, validated rulebook: what the compiler, evaluator and CLI work from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rules.conditions import Condition, Loc, max_window_days
from rules.errors import RuleFileError
from rules.worktime import ALWAYS, WeeklyHours


@dataclass(frozen=True)
class ScoreDef:
    name: str
    cap: float
    floor: float
    half_life_days: float | None
    adjustment_bound: float
    """Active targeting adjustments for this score are summed and clamped to ±bound."""
    loc: Loc


@dataclass(frozen=True)
class Signal:
    name: str
    score: str
    points: float
    when: Condition
    per_activity: bool
    """Score once per matching activity (each decayed by its own age), up to ``max_count``."""
    max_count: int
    description: str
    loc: Loc


@dataclass(frozen=True)
class Stages:
    order: tuple[str, ...]
    side: tuple[str, ...]
    initial: str
    manual: tuple[str, ...]
    handoff: str | None
    loc: Loc
    value_locs: dict[str, Loc] = field(default_factory=dict)
    """``initial``, ``handoff``, ``order.0``, ``manual.1``… → where that value is written."""

    @property
    def all(self) -> tuple[str, ...]:
        return self.order + self.side

    def at(self, key: str) -> Loc:
        """Where a stage value is written (the section itself when unknown)."""
        return self.value_locs.get(key, self.loc)

    def where_listed(self, stage: str) -> Loc:
        """Where ``stage`` is first listed in ``order`` or ``side``."""
        for key, names in (("order", self.order), ("side", self.side)):
            if stage in names:
                return self.at(f"{key}.{names.index(stage)}")
        return self.loc


@dataclass(frozen=True)
class Transition:
    """A qualification (``to`` any stage) or disqualification (``to`` = disqualified) rule."""

    name: str
    section: str
    to: str
    from_stages: tuple[str, ...]
    when: Condition
    reason: str | None
    loc: Loc


@dataclass(frozen=True)
class Route:
    name: str
    territory: str | None
    segment: str | None
    when: Condition
    loc: Loc
    weights: tuple[tuple[str, float], ...] = ()
    """Rep email → weight (relative); empty: every rep of the pool weighs the same."""
    catch_up_per_day: int | None = None
    """None: catch-up ``none``; N: missed share repaid, at most N extra leads a day."""
    queue_max_wait_hours: float | None = None
    """``when_unavailable: {queue: true, max_wait: {hours: N}}``: when nobody in the pool is
    available now, assign the rep available soonest within N hours instead of skipping."""


@dataclass(frozen=True)
class Escalation:
    """Re-assign an unaccepted handoff of one priority, then hand it to a fallback."""

    priority: str
    after_hours: float
    clock: str
    """``wall`` or ``business`` (the owner's working hours)."""
    times: int
    then_rep: str | None
    """Fallback rep's email, or None when the fallback is a queue."""
    then_queue: str | None
    loc: Loc


@dataclass(frozen=True)
class Routing:
    territories: tuple[str, ...]
    segments: tuple[str, ...]
    routes: tuple[Route, ...]


@dataclass(frozen=True)
class SlaRule:
    name: str
    priority: str
    when: Condition
    loc: Loc


@dataclass(frozen=True)
class Sla:
    priorities: dict[str, float]
    default: str | None
    rules: tuple[SlaRule, ...]
    escalation: dict[str, Escalation] = field(default_factory=dict)
    """Priority → what happens when its handoffs are not accepted in time."""
    clocks: dict[str, str] = field(default_factory=dict)
    """Priority → ``business`` (counted in the owner's working time) or ``wall`` (default)."""

    def clock(self, priority: str) -> str:
        return self.clocks.get(priority, "wall")


@dataclass(frozen=True)
class WorkingCalendar:
    """A territory's default working calendar (a rep's own settings override it)."""

    time_zone: str = "UTC"
    hours: WeeklyHours = ALWAYS
    holiday_country: str | None = None
    holiday_subdivision: str | None = None
    loc: Loc | None = None


@dataclass(frozen=True)
class WorkingTime:
    territories: dict[str, WorkingCalendar] = field(default_factory=dict)
    default: WorkingCalendar | None = None
    """For reps of territories not listed (None: every hour of every day, UTC)."""

    def for_territory(self, territory: str) -> WorkingCalendar:
        found = self.territories.get(territory, self.default)
        return found if found is not None else WorkingCalendar()


@dataclass(frozen=True)
class FeedbackRule:
    name: str
    type: str
    reason: str | None
    group_by: str
    only: str | None
    """Restrict to one segment/campaign value (``segment: smb`` in the file)."""
    at_least: int
    within_days: float
    score: str
    delta: float
    duration_days: float
    loc: Loc


@dataclass(frozen=True)
class Example:
    name: str
    input: dict[str, Any]
    expect: dict[str, Any]
    loc: Loc


@dataclass(frozen=True)
class Rulebook:
    """A loaded rulebook. ``version`` is the content hash of its files."""

    version: str
    root: str
    scores: dict[str, ScoreDef]
    signals: tuple[Signal, ...]
    stages: Stages
    transitions: tuple[Transition, ...]
    routing: Routing
    sla: Sla
    feedback: tuple[FeedbackRule, ...]
    reasons: dict[str, tuple[str, ...]]
    examples: tuple[Example, ...]
    example_defaults: dict[str, Any] = field(default_factory=dict)
    working_time: WorkingTime = field(default_factory=WorkingTime)
    reason_labels: dict[str, dict[str, str]] = field(default_factory=dict)
    """kind → code → label (the code itself when no label is written)."""
    warnings: tuple[RuleFileError, ...] = ()
    """Valid but suspicious: rules that can never fire, feedback that can re-fire (``check``)."""
    sources: dict[str, bytes] = field(default_factory=dict, repr=False)
    """The rule files (relative path → bytes): what the version hashes, what workers reload."""

    @property
    def lookback_days(self) -> float:
        """Longest activity window: older activities are not asserted."""
        conds: list[Condition] = [s.when for s in self.signals]
        conds += [t.when for t in self.transitions]
        conds += [r.when for r in self.routing.routes] + [r.when for r in self.sla.rules]
        return max([max_window_days(c) for c in conds] + [0.0])

    def rule_names(self) -> list[str]:
        names = [s.name for s in self.signals] + [t.name for t in self.transitions]
        names += [r.name for r in self.routing.routes] + [r.name for r in self.sla.rules]
        return names + [f.name for f in self.feedback]

    def reason_codes(self, kind: str) -> tuple[str, ...]:
        """Valid reason codes of ``kind`` (reject, disqualify, recycle, lost)."""
        return self.reasons.get(kind, ())


EMPTY_STAGES = Stages(("new",), (), "new", (), None, Loc("<none>", 1, 1))
