"""API keys and the caller's own identity."""

from __future__ import annotations

from datetime import datetime

import strawberry

from api import auth
from api.enums import Role
from api.errors import LeadgateError
from api.models import ApiKey as ApiKeyRow
from schema.context import Info
from schema.errors import UserError, user_error


@strawberry.type(description="An API key. The secret is never shown after creation.")
class ApiKey:
    name: str = strawberry.field(description="Who or what uses it")
    prefix: str = strawberry.field(description="Public part of the token, identifies the key")
    role: Role = strawberry.field(description="Its role")
    created_at: datetime = strawberry.field(description="Created at")
    revoked_at: datetime | None = strawberry.field(description="Revoked at, if revoked")

    @classmethod
    def from_row(cls, row: ApiKeyRow) -> ApiKey:
        return cls(
            name=row.name,
            prefix=row.prefix,
            role=row.role,
            created_at=row.created_at,
            revoked_at=row.revoked_at,
        )


@strawberry.type(description="Who is calling.")
class Viewer:
    role: Role = strawberry.field(description="Role of the key in use")
    name: str = strawberry.field(description="Key name")
    rep_id: int | None = strawberry.field(description="Sales rep the key is bound to")


@strawberry.input(description="A new API key.")
class CreateApiKeyInput:
    name: str = strawberry.field(description="Who or what will use it")
    role: Role = strawberry.field(description="Its role")
    rep_email: str | None = strawberry.field(
        default=None, description="Bind a sales key to this rep"
    )


@strawberry.type(description="The new key and its token, shown this once.")
class CreateApiKeyPayload:
    api_key: ApiKey | None = strawberry.field(description="The stored key")
    token: str | None = strawberry.field(description="Bearer token. Store it now")
    user_errors: list[UserError] = strawberry.field(description="Empty on success")


@strawberry.input(description="Revoke a key by prefix.")
class RevokeApiKeyInput:
    prefix: str = strawberry.field(description="The key's prefix")


@strawberry.type(description="The revoked key.")
class RevokeApiKeyPayload:
    api_key: ApiKey | None = strawberry.field(description="The key, now revoked")
    user_errors: list[UserError] = strawberry.field(description="Empty on success")


@strawberry.type
class AdminQueries:
    @strawberry.field(description="The identity behind the API key in use")
    def viewer(self, info: Info) -> Viewer:
        principal = info.context.principal
        assert principal is not None  # RoleGuard refuses unauthenticated calls before this
        return Viewer(role=principal.role, name=principal.name, rep_id=principal.rep_id)


@strawberry.type
class AdminMutations:
    @strawberry.mutation(description="Create an API key. The token is returned once")
    async def create_api_key(self, info: Info, input: CreateApiKeyInput) -> CreateApiKeyPayload:
        try:
            row, token = await auth.create_api_key(
                name=input.name, role=input.role, rep_email=input.rep_email
            )
        except LeadgateError as exc:
            return CreateApiKeyPayload(api_key=None, token=None, user_errors=[user_error(exc)])
        return CreateApiKeyPayload(api_key=ApiKey.from_row(row), token=token, user_errors=[])

    @strawberry.mutation(description="Revoke an API key. Requests with it fail from now on")
    async def revoke_api_key(self, info: Info, input: RevokeApiKeyInput) -> RevokeApiKeyPayload:
        try:
            row = await auth.revoke_api_key(prefix=input.prefix)
        except LeadgateError as exc:
            return RevokeApiKeyPayload(api_key=None, user_errors=[user_error(exc)])
        return RevokeApiKeyPayload(api_key=ApiKey.from_row(row), user_errors=[])
