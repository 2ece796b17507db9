"""What flows in and out: ingested messages, the domain-event outbox, webhooks, idempotency."""

from __future__ import annotations

from tortoise import fields
from tortoise.indexes import Index

from api.model_base import Model


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
