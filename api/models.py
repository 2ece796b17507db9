"""Tortoise models for the whole domain (DESIGN.md §1).

The schema itself is created by the migrations in ``api/migrations``: change a model, then run
``leadgate db makemigrations`` and commit the new migration file. Model docstrings become table
comments and tortoise 1.1 splits SQLite scripts on semicolons: keep semicolons out of them.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.indexes import Index

from api.enums import (
    DealStage,
    EvaluationTrigger,
    FeedbackKind,
    HandoffStatus,
    JobStatus,
    LifecycleStage,
    PeriodKind,
    Role,
    Team,
)
from api.model_base import Model


class Campaign(Model):
    """A marketing effort, whose cost is what CAC divides."""

    id = fields.IntField(primary_key=True)
    key = fields.CharField(max_length=100, unique=True)
    name = fields.CharField(max_length=200)
    channel = fields.CharField(max_length=50, db_index=True)
    starts_on = fields.DateField(null=True)
    ends_on = fields.DateField(null=True)
    # The total of the campaign's cost entries (issue 14), kept by api/campaigns.py. A campaign
    # without entries (demo seed, databases from before cost entries) counts it at its start.
    cost = fields.DecimalField(max_digits=16, decimal_places=2, default=0)
    currency = fields.CharField(max_length=3, default="USD")
    budget = fields.DecimalField(max_digits=16, decimal_places=2, null=True)
    closed_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "campaign"


class Account(Model):
    """A company, matched by email or website domain."""

    id = fields.IntField(primary_key=True)
    domain = fields.CharField(max_length=253, unique=True)
    name = fields.CharField(max_length=200, null=True)
    industry = fields.CharField(max_length=100, null=True)
    employee_count = fields.IntField(null=True)
    annual_revenue = fields.DecimalField(max_digits=16, decimal_places=2, null=True)
    country = fields.CharField(max_length=2, null=True)
    segment = fields.CharField(max_length=50, null=True, db_index=True)
    customer_since = fields.DatetimeField(null=True)
    churned_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "account"


class SalesRep(Model):
    """A sales owner that routing can assign handoffs to."""

    id = fields.IntField(primary_key=True)
    email = fields.CharField(max_length=254, unique=True)
    name = fields.CharField(max_length=200)
    territory = fields.CharField(max_length=50, db_index=True)
    segments: fields.Field[list[str]] = fields.JSONField(default=list)
    capacity = fields.IntField(default=50)
    active = fields.BooleanField(default=True)
    last_assigned_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    # Own calendar settings (issue 16); null takes the rulebook's territory default.
    time_zone = fields.CharField(max_length=64, null=True)
    working_hours: fields.Field[dict[str, list[str]] | None] = fields.JSONField(null=True)
    holiday_country = fields.CharField(max_length=3, null=True)
    holiday_subdivision = fields.CharField(max_length=10, null=True)

    class Meta:
        table = "sales_rep"


class RepAbsence(Model):
    """An out-of-office period of a rep, ``[starts_at, ends_at)``: routing skips them then."""

    id = fields.IntField(primary_key=True)
    rep: fields.ForeignKeyRelation[SalesRep] = fields.ForeignKeyField(
        "models.SalesRep", related_name="absences", on_delete=fields.CASCADE
    )
    starts_at = fields.DatetimeField()
    ends_at = fields.DatetimeField()
    note = fields.CharField(max_length=500, default="")
    set_by = fields.CharField(max_length=200)
    """Who set it: ``rep`` (the rep's own key) or the admin key's name."""
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "rep_absence"
        indexes = (Index(fields=("rep_id", "ends_at")),)


class Lead(Model):
    """A person who showed interest, keyed by email."""

    id = fields.IntField(primary_key=True)
    email = fields.CharField(max_length=254, unique=True)
    external_id = fields.CharField(max_length=200, unique=True, null=True)
    first_name = fields.CharField(max_length=100, null=True)
    last_name = fields.CharField(max_length=100, null=True)
    title = fields.CharField(max_length=200, null=True)
    seniority = fields.CharField(max_length=50, null=True)
    department = fields.CharField(max_length=100, null=True)
    country = fields.CharField(max_length=2, null=True)
    source = fields.CharField(max_length=50, null=True)
    account: fields.ForeignKeyNullableRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="leads", null=True, on_delete=fields.SET_NULL
    )
    first_campaign: fields.ForeignKeyNullableRelation[Campaign] = fields.ForeignKeyField(
        "models.Campaign", related_name="first_touch_leads", null=True, on_delete=fields.SET_NULL
    )
    last_campaign: fields.ForeignKeyNullableRelation[Campaign] = fields.ForeignKeyField(
        "models.Campaign", related_name="last_touch_leads", null=True, on_delete=fields.SET_NULL
    )
    owner: fields.ForeignKeyNullableRelation[SalesRep] = fields.ForeignKeyField(
        "models.SalesRep", related_name="leads", null=True, on_delete=fields.SET_NULL
    )
    stage = fields.CharEnumField(LifecycleStage, max_length=20, default=LifecycleStage.NEW)
    # When the current stage was entered (NULL: since created_at, for leads that never moved
    # or moved before this column existed).
    stage_entered_at = fields.DatetimeField(null=True)
    fit_score = fields.FloatField(default=0)
    engagement_score = fields.FloatField(default=0)
    scores: fields.Field[dict[str, float]] = fields.JSONField(default=dict)
    properties: fields.Field[dict[str, object]] = fields.JSONField(default=dict)
    mql_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)
    version = fields.IntField(default=1)
    # Set when the person's data was erased on request (issue 14): the row stays for the funnel.
    erased_at = fields.DatetimeField(null=True)
    # Issue 9: the decision in force, so a re-evaluation that decides the same writes no row,
    # and when the outcome can next change by itself (the scheduler picks leads by it).
    evaluated_at = fields.DatetimeField(null=True)
    rescore_at = fields.DatetimeField(null=True)
    decision = fields.CharField(max_length=32, null=True)
    last_evaluation_id = fields.IntField(null=True)

    class Meta:
        table = "lead"
        indexes = (
            Index(fields=("stage", "created_at")),
            Index(fields=("created_at", "id")),
            Index(fields=("owner_id", "stage")),
            Index(fields=("source", "created_at")),
            Index(fields=("fit_score", "id")),  # leads(orderBy: FIT_SCORE) keyset pages
            Index(fields=("engagement_score", "id")),
            Index(fields=("rescore_at",)),  # the scheduler's due leads (issue 9)
        )


class Activity(Model):
    """Something a lead did. The external id makes intake idempotent."""

    id = fields.IntField(primary_key=True)
    lead: fields.ForeignKeyRelation[Lead] = fields.ForeignKeyField(
        "models.Lead", related_name="activities", on_delete=fields.CASCADE
    )
    campaign: fields.ForeignKeyNullableRelation[Campaign] = fields.ForeignKeyField(
        "models.Campaign", related_name="activities", null=True, on_delete=fields.SET_NULL
    )
    type = fields.CharField(max_length=50)
    occurred_at = fields.DatetimeField()
    source = fields.CharField(max_length=50, null=True)
    external_id = fields.CharField(max_length=200, unique=True, null=True)
    properties: fields.Field[dict[str, object]] = fields.JSONField(default=dict)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "activity"
        indexes = (
            Index(fields=("lead_id", "occurred_at")),
            Index(fields=("type", "occurred_at")),
            Index(fields=("occurred_at",)),  # reach metrics scan activities by time
        )


class RulebookVersion(Model):
    """A published rulebook with immutable content, one active at a time."""

    id = fields.IntField(primary_key=True)
    version = fields.CharField(max_length=64, unique=True)
    files: fields.Field[dict[str, str]] = fields.JSONField()
    parsed = fields.BinaryField(null=True)
    """The validated rulebook, frozen (rules.frozen): a swap thaws it instead of parsing."""
    parsed_format = fields.CharField(max_length=64, null=True)
    """The rules.frozen format fingerprint ``parsed`` was written with (else: parse files)."""
    active = fields.BooleanField(default=False, db_index=True)
    published_by = fields.CharField(max_length=200, null=True)
    notes = fields.TextField(null=True)
    published_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "rulebook_version"


class Evaluation(Model):
    """One immutable run of the rulebook over one lead."""

    id = fields.IntField(primary_key=True)
    lead: fields.ForeignKeyRelation[Lead] = fields.ForeignKeyField(
        "models.Lead", related_name="evaluations", on_delete=fields.CASCADE
    )
    rulebook_version = fields.CharField(max_length=64)
    trigger = fields.CharEnumField(EvaluationTrigger, max_length=20)
    input: fields.Field[dict[str, object]] = fields.JSONField()
    fired: fields.Field[list[object]] = fields.JSONField(default=list)
    contributions: fields.Field[list[object]] = fields.JSONField(default=list)
    scores: fields.Field[dict[str, object]] = fields.JSONField(default=dict)
    stage_before = fields.CharEnumField(LifecycleStage, max_length=20)
    stage_after = fields.CharEnumField(LifecycleStage, max_length=20)
    owner: fields.ForeignKeyNullableRelation[SalesRep] = fields.ForeignKeyField(
        "models.SalesRep", related_name="evaluations", null=True, on_delete=fields.SET_NULL
    )
    sla_deadline = fields.DatetimeField(null=True)
    outcome: fields.Field[dict[str, object]] = fields.JSONField(default=dict)
    duration_ms = fields.FloatField()
    # Earliest time the outcome can change without new input (None: never by itself).
    next_change_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "evaluation"
        indexes = (Index(fields=("lead_id", "created_at")),)


class Handoff(Model):
    """Marketing hands an MQL to a sales owner with a first-touch deadline."""

    id = fields.IntField(primary_key=True)
    lead: fields.ForeignKeyRelation[Lead] = fields.ForeignKeyField(
        "models.Lead", related_name="handoffs", on_delete=fields.CASCADE
    )
    owner: fields.ForeignKeyRelation[SalesRep] = fields.ForeignKeyField(
        "models.SalesRep", related_name="handoffs", on_delete=fields.RESTRICT
    )
    evaluation: fields.ForeignKeyNullableRelation[Evaluation] = fields.ForeignKeyField(
        "models.Evaluation", related_name="handoffs", null=True, on_delete=fields.SET_NULL
    )
    status = fields.CharEnumField(HandoffStatus, max_length=20, default=HandoffStatus.PENDING)
    priority = fields.CharField(max_length=20, default="normal")
    sla_deadline = fields.DatetimeField()
    reason_code = fields.CharField(max_length=50, null=True)
    note = fields.TextField(null=True)
    decided_at = fields.DatetimeField(null=True)
    breached_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    route = fields.CharField(max_length=100, null=True)
    """The route that picked the first owner: escalation re-picks in its pool."""
    escalate_at = fields.DatetimeField(null=True)
    """When the handoff is re-assigned if still not accepted (null: no escalation left)."""
    escalations = fields.IntField(default=0, db_default=0)
    queue = fields.CharField(max_length=50, null=True)
    """The fallback queue a ``queued`` handoff waits in."""

    class Meta:
        table = "handoff"
        indexes = (
            Index(fields=("owner_id", "status")),
            Index(fields=("status", "sla_deadline")),
            Index(fields=("lead_id", "status")),
            Index(fields=("status", "escalate_at")),
        )


class HandoffStep(Model):
    """One owner change of a handoff (first assignment, escalation, fallback) and why."""

    id = fields.IntField(primary_key=True)
    handoff: fields.ForeignKeyRelation[Handoff] = fields.ForeignKeyField(
        "models.Handoff", related_name="steps", on_delete=fields.CASCADE
    )
    step = fields.IntField()
    kind = fields.CharField(max_length=20)
    rep: fields.ForeignKeyNullableRelation[SalesRep] = fields.ForeignKeyField(
        "models.SalesRep", related_name="handoff_steps", null=True, on_delete=fields.SET_NULL
    )
    queue = fields.CharField(max_length=50, null=True)
    reason = fields.TextField()
    at = fields.DatetimeField()

    class Meta:
        table = "handoff_step"
        unique_together = (("handoff_id", "step"),)


class RoutingShare(Model):
    """Ledger of one rep in one route for one ISO week: assigned vs entitled leads."""

    id = fields.IntField(primary_key=True)
    route = fields.CharField(max_length=100)
    rep: fields.ForeignKeyRelation[SalesRep] = fields.ForeignKeyField(
        "models.SalesRep", related_name="routing_shares", on_delete=fields.CASCADE
    )
    period = fields.DateField()
    assigned = fields.IntField(default=0)
    entitled = fields.FloatField(default=0.0)
    owed = fields.FloatField(default=0.0)
    extra_day = fields.DateField(null=True)
    extra_count = fields.IntField(default=0)

    class Meta:
        table = "routing_share"
        unique_together = (("route", "rep_id", "period"),)
        indexes = (Index(fields=("period", "route")),)


class LeadStageChange(Model):
    """Every lifecycle move of a lead, including refused ones (``applied`` false)."""

    id = fields.IntField(primary_key=True)
    lead: fields.ForeignKeyRelation[Lead] = fields.ForeignKeyField(
        "models.Lead", related_name="stage_changes", on_delete=fields.CASCADE
    )
    from_stage = fields.CharEnumField(LifecycleStage, max_length=20)
    to_stage = fields.CharEnumField(LifecycleStage, max_length=20)
    applied = fields.BooleanField(default=True)
    reason = fields.CharField(max_length=200, null=True)
    actor = fields.CharField(max_length=200, null=True)
    evaluation: fields.ForeignKeyNullableRelation[Evaluation] = fields.ForeignKeyField(
        "models.Evaluation", related_name="stage_changes", null=True, on_delete=fields.SET_NULL
    )
    # When the lead entered from_stage: time in that stage is changed_at - entered_from_at,
    # without looking for the previous change (velocity metric).
    entered_from_at = fields.DatetimeField(null=True)
    changed_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "lead_stage_change"
        indexes = (
            Index(fields=("lead_id", "changed_at")),
            Index(fields=("to_stage", "changed_at")),
            # velocity_days: one index-only range per stage and period
            Index(fields=("from_stage", "changed_at", "applied", "entered_from_at")),
        )


class Deal(Model):
    """An opportunity created from an accepted lead or directly for an account."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=200)
    account: fields.ForeignKeyRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="deals", on_delete=fields.RESTRICT
    )
    lead: fields.ForeignKeyNullableRelation[Lead] = fields.ForeignKeyField(
        "models.Lead", related_name="deals", null=True, on_delete=fields.SET_NULL
    )
    owner: fields.ForeignKeyNullableRelation[SalesRep] = fields.ForeignKeyField(
        "models.SalesRep", related_name="deals", null=True, on_delete=fields.SET_NULL
    )
    stage = fields.CharEnumField(DealStage, max_length=20, default=DealStage.DISCOVERY)
    amount = fields.DecimalField(max_digits=16, decimal_places=2, default=0)
    currency = fields.CharField(max_length=3, default="USD")
    expected_close_on = fields.DateField(null=True)
    closed_at = fields.DatetimeField(null=True)
    close_reason = fields.CharField(max_length=50, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)
    version = fields.IntField(default=1)

    class Meta:
        table = "deal"
        indexes = (
            Index(fields=("stage", "closed_at")),
            Index(fields=("owner_id", "stage")),
            Index(fields=("created_at", "id")),
        )


class DealStageChange(Model):
    """One row per deal stage move, for velocity and audit."""

    id = fields.IntField(primary_key=True)
    deal: fields.ForeignKeyRelation[Deal] = fields.ForeignKeyField(
        "models.Deal", related_name="stage_changes", on_delete=fields.CASCADE
    )
    from_stage = fields.CharEnumField(DealStage, max_length=20, null=True)
    to_stage = fields.CharEnumField(DealStage, max_length=20)
    changed_by = fields.CharField(max_length=200, null=True)
    changed_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "deal_stage_change"
        indexes = (Index(fields=("deal_id", "changed_at")),)


class Feedback(Model):
    """What sales tells marketing: rejections, disqualifications, recycles, won/lost."""

    id = fields.IntField(primary_key=True)
    kind = fields.CharEnumField(FeedbackKind, max_length=20)
    reason_code = fields.CharField(max_length=50, null=True)
    note = fields.TextField(null=True)
    segment = fields.CharField(max_length=50, null=True)
    lead: fields.ForeignKeyNullableRelation[Lead] = fields.ForeignKeyField(
        "models.Lead", related_name="feedback", null=True, on_delete=fields.SET_NULL
    )
    handoff: fields.ForeignKeyNullableRelation[Handoff] = fields.ForeignKeyField(
        "models.Handoff", related_name="feedback", null=True, on_delete=fields.SET_NULL
    )
    deal: fields.ForeignKeyNullableRelation[Deal] = fields.ForeignKeyField(
        "models.Deal", related_name="feedback", null=True, on_delete=fields.SET_NULL
    )
    campaign: fields.ForeignKeyNullableRelation[Campaign] = fields.ForeignKeyField(
        "models.Campaign", related_name="feedback", null=True, on_delete=fields.SET_NULL
    )
    rep: fields.ForeignKeyNullableRelation[SalesRep] = fields.ForeignKeyField(
        "models.SalesRep", related_name="feedback", null=True, on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "feedback"
        indexes = (Index(fields=("kind", "created_at")),)


class TargetingAdjustment(Model):
    """A bounded, expiring score change that feedback rules derived from sales feedback."""

    id = fields.IntField(primary_key=True)
    rule = fields.CharField(max_length=200)
    score = fields.CharField(max_length=50)
    delta = fields.FloatField()
    scope_kind = fields.CharField(max_length=20)
    scope_value = fields.CharField(max_length=200)
    reason = fields.TextField()
    caused_by: fields.Field[list[int]] = fields.JSONField(default=list)
    rulebook_version = fields.CharField(max_length=64)
    starts_at = fields.DatetimeField()
    expires_at = fields.DatetimeField(db_index=True)
    revoked_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    # issue 11: who revoked it and why; when its leads were last re-scored for a change
    # (appeared, expired, revoked), so the background re-scoring survives a restart.
    revoked_by = fields.CharField(max_length=200, null=True)
    revoke_reason = fields.TextField(null=True)
    rescored_at = fields.DatetimeField(null=True)

    class Meta:
        table = "targeting_adjustment"


class Goal(Model):
    """A shared target on a metric for a period."""

    id = fields.IntField(primary_key=True)
    metric = fields.CharField(max_length=50)
    period_kind = fields.CharEnumField(PeriodKind, max_length=10)
    period_start = fields.DateField()
    target = fields.DecimalField(max_digits=16, decimal_places=2)
    team = fields.CharEnumField(Team, max_length=20)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "goal"
        unique_together = (("metric", "period_kind", "period_start", "team"),)


class ApiKey(Model):
    """An API key: the prefix identifies it, only a hash of the secret is stored."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=200)
    prefix = fields.CharField(max_length=16, unique=True)
    secret_hash = fields.CharField(max_length=128)
    role = fields.CharEnumField(Role, max_length=20)
    rep: fields.ForeignKeyNullableRelation[SalesRep] = fields.ForeignKeyField(
        "models.SalesRep", related_name="api_keys", null=True, on_delete=fields.CASCADE
    )
    created_at = fields.DatetimeField(auto_now_add=True)
    revoked_at = fields.DatetimeField(null=True)
    last_used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "api_key"


class IdempotencyRecord(Model):
    """The first result of a trigger mutation, replayed for the same key and input."""

    id = fields.IntField(primary_key=True)
    # issue 13: keys are scoped per API key ("key:<id>"), so one caller never replays another's
    scope = fields.CharField(max_length=64, default="", db_default="")
    key = fields.CharField(max_length=200)
    operation = fields.CharField(max_length=100)
    request_hash = fields.CharField(max_length=64)
    response: fields.Field[dict[str, object]] = fields.JSONField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "idempotency_record"
        unique_together = (("scope", "operation", "key"),)


class DomainEvent(Model):
    """An outbox row: SLA breaches, handoffs and evaluations that subscribers follow."""

    id = fields.BigIntField(primary_key=True)
    kind = fields.CharField(max_length=50)
    subject_id = fields.IntField(null=True)
    payload: fields.Field[dict[str, object]] = fields.JSONField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "domain_event"
        indexes = (Index(fields=("kind", "created_at")),)


# --- Issue 15: integrations (Segment ingest, webhooks) -------------------------------------


class IngestedMessage(Model):
    """A Segment-spec call already handled, by messageId: a replay returns the first result.

    Track calls whose event has no activity type are kept here (payload) and not shown to the
    rules, so a mapping added later can still be applied by hand.
    """

    id = fields.BigIntField(primary_key=True)
    message_id = fields.CharField(max_length=200, unique=True)
    call = fields.CharField(max_length=20)
    status = fields.CharField(max_length=20)
    event = fields.CharField(max_length=200, null=True)
    lead_id = fields.IntField(null=True)
    payload: fields.Field[dict[str, object] | None] = fields.JSONField(null=True)
    received_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "ingested_message"
        indexes = (Index(fields=("status", "received_at")),)


class WebhookEndpoint(Model):
    """An HTTP endpoint that receives signed domain events, with filters."""

    id = fields.IntField(primary_key=True)
    url = fields.CharField(max_length=2000)
    description = fields.CharField(max_length=200, null=True)
    secret = fields.CharField(max_length=100)
    events: fields.Field[list[str]] = fields.JSONField(default=list)
    owner_ids: fields.Field[list[int]] = fields.JSONField(default=list)
    segments: fields.Field[list[str]] = fields.JSONField(default=list)
    stages: fields.Field[list[str]] = fields.JSONField(default=list)
    active = fields.BooleanField(default=True)
    disabled_at = fields.DatetimeField(null=True)
    disabled_reason = fields.CharField(max_length=200, null=True)
    consecutive_failures = fields.IntField(default=0)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "webhook_endpoint"


class WebhookDelivery(Model):
    """One event for one endpoint: pending until a 2xx, retried with backoff, then failed."""

    id = fields.BigIntField(primary_key=True)
    endpoint: fields.ForeignKeyRelation[WebhookEndpoint] = fields.ForeignKeyField(
        "models.WebhookEndpoint", related_name="deliveries", on_delete=fields.CASCADE
    )
    event_id = fields.BigIntField()
    event_type = fields.CharField(max_length=50)
    payload: fields.Field[dict[str, object]] = fields.JSONField()
    status = fields.CharField(max_length=20, default="pending")
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField()
    last_status_code = fields.IntField(null=True)
    last_error = fields.CharField(max_length=500, null=True)
    delivered_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "webhook_delivery"
        unique_together = (("endpoint_id", "event_id"),)
        indexes = (
            Index(fields=("status", "next_attempt_at")),
            Index(fields=("endpoint_id", "created_at")),
        )


class WebhookAttempt(Model):
    """One HTTP attempt of a delivery: the delivery log shows these."""

    id = fields.BigIntField(primary_key=True)
    delivery: fields.ForeignKeyRelation[WebhookDelivery] = fields.ForeignKeyField(
        "models.WebhookDelivery", related_name="attempt_log", on_delete=fields.CASCADE
    )
    status_code = fields.IntField(null=True)
    error = fields.CharField(max_length=500, null=True)
    duration_ms = fields.FloatField()
    attempted_at = fields.DatetimeField()

    class Meta:
        table = "webhook_attempt"
        indexes = (Index(fields=("delivery_id", "attempted_at")),)


class WebhookCursor(Model):
    """How far the outbox has been fanned out to endpoints (one row), so a restart resumes."""

    id = fields.IntField(primary_key=True)
    last_event_id = fields.BigIntField(default=0)
    # Ids below last_event_id not seen yet: a transaction that took an id may commit later.
    holes: fields.Field[dict[str, str]] = fields.JSONField(default=dict)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "webhook_cursor"


# --- issue 14: campaign cost over time, audit trail, erasure tombstones ---------------------


class CampaignCost(Model):
    """Money spent on a campaign on a day: CAC counts it in the period of that day."""

    id = fields.IntField(primary_key=True)
    campaign: fields.ForeignKeyRelation[Campaign] = fields.ForeignKeyField(
        "models.Campaign", related_name="cost_entries", on_delete=fields.CASCADE
    )
    amount = fields.DecimalField(max_digits=16, decimal_places=2)
    incurred_on = fields.DateField()
    note = fields.CharField(max_length=200, null=True)
    created_by = fields.CharField(max_length=200, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "campaign_cost"
        indexes = (Index(fields=("incurred_on", "campaign_id")),)


class AuditEntry(Model):
    """Who changed what in the administration surface (reps, campaigns, keys, privacy)."""

    id = fields.IntField(primary_key=True)
    actor = fields.CharField(max_length=200)
    action = fields.CharField(max_length=50)
    subject = fields.CharField(max_length=200, description="Global id of what changed")
    details: fields.Field[dict[str, object]] = fields.JSONField(default=dict)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "audit_entry"
        indexes = (Index(fields=("subject", "created_at")), Index(fields=("created_at",)))


class ErasureTombstone(Model):
    """A hash of an erased person's email, so intake does not silently re-create them."""

    id = fields.IntField(primary_key=True)
    email_hash = fields.CharField(max_length=64, unique=True)
    erased_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "erasure_tombstone"


# --- issue 10: rulebook lifecycle (activations, bulk re-evaluation jobs) ---------------------


class RulebookActivation(Model):
    """Every switch of the active rulebook: which version, from which, who, when."""

    id = fields.IntField(primary_key=True)
    version = fields.CharField(max_length=64)
    previous_version = fields.CharField(max_length=64, null=True)
    activated_by = fields.CharField(max_length=200)
    activated_at = fields.DatetimeField(auto_now_add=True)
    note = fields.TextField(null=True)
    """Why: the publish note, or the one given to activate (a rollback's reason)."""

    class Meta:
        table = "rulebook_activation"
        indexes = (Index(fields=("activated_at",)), Index(fields=("version", "id")))


class BulkJob(Model):
    """A re-evaluation of many leads with one rulebook version, split into resumable chunks."""

    id = fields.IntField(primary_key=True)
    kind = fields.CharField(max_length=20)
    rulebook_version = fields.CharField(max_length=64)
    lead_filter: fields.Field[dict[str, object]] = fields.JSONField(default=dict)
    status = fields.CharEnumField(JobStatus, max_length=20, default=JobStatus.PENDING)
    total = fields.IntField(default=0)
    created_by = fields.CharField(max_length=200)
    error = fields.TextField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    started_at = fields.DatetimeField(null=True)
    finished_at = fields.DatetimeField(null=True)
    enqueued_at = fields.DatetimeField(null=True)
    """When its chunks became procrastinate tasks for ``leadgate worker`` (PostgreSQL only)."""

    class Meta:
        table = "bulk_job"
        indexes = (Index(fields=("status", "id")),)


class BulkJobChunk(Model):
    """A range of lead ids of a job. ``cursor`` is the last lead id whose batch committed."""

    id = fields.IntField(primary_key=True)
    job: fields.ForeignKeyRelation[BulkJob] = fields.ForeignKeyField(
        "models.BulkJob", related_name="chunks", on_delete=fields.CASCADE
    )
    first_lead_id = fields.IntField()
    last_lead_id = fields.IntField()
    cursor = fields.IntField()
    total = fields.IntField()
    processed = fields.IntField(default=0)
    attempted = fields.IntField(default=0)
    evaluated = fields.IntField(default=0)
    moved = fields.IntField(default=0)
    handoffs = fields.IntField(default=0)
    skipped = fields.IntField(default=0)
    failed = fields.IntField(default=0)
    status = fields.CharEnumField(JobStatus, max_length=20, default=JobStatus.PENDING)
    claimed_by = fields.CharField(max_length=200, null=True)
    heartbeat_at = fields.DatetimeField(null=True)

    class Meta:
        table = "bulk_job_chunk"
        indexes = (Index(fields=("job_id", "status")),)


class ShadowRun(Model):
    """A published candidate evaluated beside the live version, off the request path."""

    id = fields.IntField(primary_key=True)
    candidate_version = fields.CharField(max_length=64)
    cursor = fields.BigIntField(default=0)
    """The last domain_event id whose evaluation was compared."""
    compared = fields.IntField(default=0)
    failed = fields.IntField(default=0)
    started_by = fields.CharField(max_length=200)
    stopped_by = fields.CharField(max_length=200, null=True)
    started_at = fields.DatetimeField(auto_now_add=True)
    stopped_at = fields.DatetimeField(null=True)

    class Meta:
        table = "shadow_run"


class ShadowDisagreement(Model):
    """Where the candidate decided differently from the live version on the same input."""

    id = fields.IntField(primary_key=True)
    shadow: fields.ForeignKeyRelation[ShadowRun] = fields.ForeignKeyField(
        "models.ShadowRun", related_name="disagreements", on_delete=fields.CASCADE
    )
    lead_id = fields.IntField()
    evaluation_id = fields.IntField()
    kind = fields.CharField(max_length=10)
    live: fields.Field[dict[str, object]] = fields.JSONField()
    candidate: fields.Field[dict[str, object]] = fields.JSONField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "shadow_disagreement"
        indexes = (Index(fields=("shadow_id", "kind")),)
