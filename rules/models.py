"""Public, JSON-serialisable input and result models of an evaluation.

The service stores :class:`EvaluationInput` as the snapshot of an evaluation so it can be replayed
against the same rulebook version, and stores :class:`EvaluationResult` as its outcome.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

Section = Literal["signals", "qualification", "disqualification", "routing", "sla", "feedback"]
FeedbackType = Literal["rejected", "disqualified", "recycled", "lost", "won", "churned"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LeadData(_Model):
    email: str
    first_name: str | None = None
    last_name: str | None = None
    title: str | None = None
    seniority: str | None = None
    department: str | None = None
    country: str | None = None
    """ISO 3166 alpha-2, e.g. ``US``."""
    source: str | None = None
    campaign: str | None = None
    stage: str = "new"
    """The lead's current lifecycle stage (the 'from' of any transition)."""
    created_at: AwareDatetime | None = None


class AccountData(_Model):
    domain: str | None = None
    name: str | None = None
    industry: str | None = None
    employee_count: int | None = Field(default=None, ge=0)
    annual_revenue: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    """Compared exactly (docs/rules.md); NaN and infinities are refused, not turned into 0."""
    country: str | None = None
    segment: str | None = None


class ActivityData(_Model):
    type: str
    occurred_at: AwareDatetime
    properties: dict[str, Any] = Field(default_factory=dict)


class AdjustmentData(_Model):
    """An active targeting adjustment (produced by feedback rules, stored by the service)."""

    score: str
    delta: float = Field(ge=-1e6, le=1e6, allow_inf_nan=False)
    scope: Literal["segment", "campaign"]
    scope_value: str
    expires_at: AwareDatetime
    rule: str = ""


class ShareData(_Model):
    """A rep's ledger in one route for one ISO week (rules/pick.py)."""

    route: str
    period: date
    """Monday of the ISO week."""
    assigned: int = Field(default=0, ge=0)
    entitled: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    """Leads the rep's weight entitled them to while eligible."""
    owed: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    """Share missed while absent, still to be repaid (catch-up cap only)."""
    extra_day: date | None = None
    extra_count: int = Field(default=0, ge=0)
    """Catch-up leads given on ``extra_day``."""


class RepShare(_Model):
    rep_id: str
    share: ShareData


class AbsenceData(_Model):
    """An out-of-office period of a rep, ``[starts_at, ends_at)``."""

    starts_at: AwareDatetime
    ends_at: AwareDatetime
    note: str = ""


class RepData(_Model):
    rep_id: str
    name: str = ""
    email: str | None = None  # how explanations name the rep (issue 14: no database ids)
    territory: str
    segments: list[str] = Field(default_factory=list)
    capacity: int = Field(ge=0)
    open_handoffs: int = Field(default=0, ge=0)
    active: bool = True
    last_assigned_at: AwareDatetime | None = None
    shares: list[ShareData] = Field(default_factory=list)
    """This week's ledger rows, one per route whose pool holds the rep."""
    # The rep's own calendar settings; None takes the rulebook's territory default
    # (``working_time``). See rules/calendars.py.
    time_zone: str | None = None
    working_hours: dict[str, list[str]] | None = None
    """``{"mon-fri": ["09:00-17:00"]}`` (rules.worktime.parse_hours)."""
    holiday_country: str | None = None
    holiday_subdivision: str | None = None
    out_of_office: list[AbsenceData] = Field(default_factory=list)
    """Periods that have not ended at the evaluation's ``now``."""


class EvaluationInput(_Model):
    """Everything one evaluation needs; enough to replay it."""

    lead: LeadData
    account: AccountData = Field(default_factory=AccountData)
    activities: list[ActivityData] = Field(default_factory=list)
    adjustments: list[AdjustmentData] = Field(default_factory=list)
    reps: list[RepData] = Field(default_factory=list)
    now: AwareDatetime


class FiredRule(_Model):
    name: str
    section: Section
    effect: str
    """Human-readable effect, e.g. ``fit +20`` or ``stage new → mql``."""


class ScoreContribution(_Model):
    signal: str
    score: str
    points: float
    """Points as written in the rule."""
    matches: int = 1
    """Matching activities counted (per-activity signals), else 1."""
    decay_factor: float
    """Mean of ``0.5 ** (age_days / half_life_days)`` over the matches; 1.0 without decay."""
    value: float
    """points times the sum of decay factors."""
    activity_age_days: float | None = None
    """Age of the newest matching activity."""


class ScoreValue(_Model):
    name: str
    raw: float
    """Sum of contributions before adjustments and caps."""
    adjustment: float
    """Sum of active targeting adjustments for this lead, bounded."""
    value: float
    """Final score: raw + adjustment, clamped to [floor, cap]."""
    cap: float


class StageOutcome(_Model):
    from_stage: str
    to_stage: str | None
    """None when no transition applies."""
    rule: str | None = None
    reason: str | None = None
    """Reason code for disqualification/recycle transitions."""


class RoutingOutcome(_Model):
    route: str | None
    rep_id: str | None
    why: str
    shares: list[RepShare] = Field(default_factory=list)
    """Ledger rows this pick changed; written only when the lead is handed off."""


class SlaOutcome(_Model):
    rule: str | None
    priority: str
    hours: float
    deadline: datetime
    escalate_at: datetime | None = None
    """When an unaccepted handoff goes to the next rep (``sla.escalation``), if ever."""
    clock: Literal["wall", "business"] = "wall"
    """``business``: the hours were counted in the owner's working time."""
    starts_at: datetime | None = None
    """When the clock started, if later than the evaluation (queued for an unavailable rep)."""


class FailedCondition(_Model):
    condition: str
    """The condition as written, e.g. ``scores.fit gte 30``."""
    actual: str
    required: str
    message: str
    """e.g. ``fit 28 < 30`` or ``no demo_request in 14 days``."""


class RuleExplanation(_Model):
    rule: str
    section: Section
    failed: list[FailedCondition]


class EvaluationResult(_Model):
    rulebook_version: str
    fired: list[FiredRule]
    contributions: list[ScoreContribution]
    scores: dict[str, ScoreValue]
    stage: StageOutcome
    routing: RoutingOutcome
    sla: SlaOutcome | None
    not_fired: list[RuleExplanation]
    duration_ms: float
    next_change_at: datetime | None = None
    """Earliest time the outcome can change without new input (None: never by itself)."""

    @property
    def fired_names(self) -> list[str]:
        return [f.name for f in self.fired]

    def score(self, name: str) -> float:
        return self.scores[name].value


class FeedbackEvent(_Model):
    feedback_id: str
    type: FeedbackType
    reason: str | None = None
    segment: str | None = None
    campaign: str | None = None
    occurred_at: AwareDatetime


class TargetingAdjustment(_Model):
    rule: str
    score: str
    delta: float = Field(ge=-1e6, le=1e6, allow_inf_nan=False)
    scope: Literal["segment", "campaign"]
    scope_value: str
    starts_at: datetime
    expires_at: datetime
    caused_by: list[str]
    """``feedback_id`` of the events inside the window that made the rule fire."""
