"""Tortoise models for the whole domain (DESIGN.md §1), one module per part of it:
leads, reps, rulebooks, deals, integrations, access. Every model is importable from here
(``from api.models import Lead``), which is also where tortoise finds them (api/db.py).

The schema itself is created by the migrations in ``api/migrations``: change a model, then run
``leadgate db makemigrations`` and commit the new migration file. Model docstrings become table
comments and tortoise 1.1 splits SQLite scripts on semicolons: keep semicolons out of them.
"""

from __future__ import annotations

from api.models.access import (
    ApiKey,
    AuditEntry,
    ErasureTombstone,
)
from api.models.deals import (
    Deal,
    DealStageChange,
    Feedback,
    Goal,
    TargetingAdjustment,
)
from api.models.integrations import (
    DomainEvent,
    IdempotencyRecord,
    IngestedMessage,
    WebhookAttempt,
    WebhookCursor,
    WebhookDelivery,
    WebhookEndpoint,
)
from api.models.leads import (
    Account,
    Activity,
    Campaign,
    CampaignCost,
    Lead,
    LeadStageChange,
)
from api.models.reps import (
    Handoff,
    HandoffStep,
    RepAbsence,
    RoutingShare,
    SalesRep,
)
from api.models.rulebooks import (
    BulkJob,
    BulkJobChunk,
    Evaluation,
    RulebookActivation,
    RulebookVersion,
    ShadowDisagreement,
    ShadowRun,
)

__all__ = [
    "Account",
    "Activity",
    "ApiKey",
    "AuditEntry",
    "BulkJob",
    "BulkJobChunk",
    "Campaign",
    "CampaignCost",
    "Deal",
    "DealStageChange",
    "DomainEvent",
    "ErasureTombstone",
    "Evaluation",
    "Feedback",
    "Goal",
    "Handoff",
    "HandoffStep",
    "IdempotencyRecord",
    "IngestedMessage",
    "Lead",
    "LeadStageChange",
    "RepAbsence",
    "RoutingShare",
    "RulebookActivation",
    "RulebookVersion",
    "SalesRep",
    "ShadowDisagreement",
    "ShadowRun",
    "TargetingAdjustment",
    "WebhookAttempt",
    "WebhookCursor",
    "WebhookDelivery",
    "WebhookEndpoint",
]
