"""Leads, the accounts they belong to, what they did, the campaigns that reached them, and
the history of their lifecycle stage."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.indexes import Index

from api.enums import LifecycleStage
from api.model_base import Model

if TYPE_CHECKING:
    from api.models.reps import SalesRep
    from api.models.rulebooks import Evaluation


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
