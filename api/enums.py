"""Closed vocabularies shared by the models, the services and the GraphQL schema."""

from enum import StrEnum


class LifecycleStage(StrEnum):
    NEW = "new"
    ENGAGED = "engaged"
    MQL = "mql"
    SAL = "sal"
    SQL = "sql"
    OPPORTUNITY = "opportunity"
    CUSTOMER = "customer"
    RECYCLED = "recycled"
    DISQUALIFIED = "disqualified"


class DealStage(StrEnum):
    DISCOVERY = "discovery"
    DEMO = "demo"
    PROPOSAL = "proposal"
    NEGOTIATION = "negotiation"
    CLOSED_WON = "closed_won"
    CLOSED_LOST = "closed_lost"


class EvaluationTrigger(StrEnum):
    API = "api"
    ACTIVITY = "activity"
    FEEDBACK = "feedback"
    BULK = "bulk"
    SCHEDULE = "schedule"


class HandoffStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    EXPIRED = "expired"
    QUEUED = "queued"
    """Escalated to a fallback queue: nobody owns it until someone claims it."""


HOLDING = (HandoffStatus.PENDING, HandoffStatus.QUEUED)
"""A lead with a handoff in these states is not handed off again (it has an owner or a queue)."""


class FeedbackKind(StrEnum):
    REJECTED = "rejected"
    DISQUALIFIED = "disqualified"
    RECYCLED = "recycled"
    WON = "won"
    LOST = "lost"
    CHURNED = "churned"


class Team(StrEnum):
    MARKETING = "marketing"
    SALES = "sales"
    SHARED = "shared"


class PeriodKind(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    QUARTER = "quarter"


class Role(StrEnum):
    INTEGRATION = "integration"
    MARKETING = "marketing"
    SALES = "sales"
    REVOPS = "revops"
    ADMIN = "admin"
    VIEWER = "viewer"


# issue 10: rulebook lifecycle
class JobStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
