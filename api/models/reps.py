"""Sales reps, their absences, and the handoffs routing gives them (with its fairness shares)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.indexes import Index

from api.enums import HandoffStatus
from api.model_base import Model

if TYPE_CHECKING:
    from api.models.leads import Lead
    from api.models.rulebooks import Evaluation


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
