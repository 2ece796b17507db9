"""Who may call the API (keys), what they did (audit) and who asked to be forgotten."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.indexes import Index

from api.enums import Role
from api.model_base import Model

if TYPE_CHECKING:
    from api.models.reps import SalesRep


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
