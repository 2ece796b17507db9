"""Deals, the feedback sales gives marketing, the targeting adjustments it causes, and goals."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.indexes import Index

from api.enums import DealStage, FeedbackKind, PeriodKind, Team
from api.model_base import Model

if TYPE_CHECKING:
    from api.models.leads import Account, Campaign, Lead
    from api.models.reps import Handoff, SalesRep


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
