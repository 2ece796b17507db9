"""Published rulebooks, the evaluations they make, the bulk jobs that re-evaluate leads with
them, and shadow runs of a candidate."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.indexes import Index

from api.enums import EvaluationTrigger, JobStatus, LifecycleStage
from api.model_base import Model

if TYPE_CHECKING:
    from api.models.leads import Lead
    from api.models.reps import SalesRep


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
