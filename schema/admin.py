"""API keys and the caller's own identity."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Self

import strawberry
from strawberry import relay

from api import auth
from api.enums import Role
from api.errors import LeadgateError
from api.models import ApiKey as ApiKeyRow
from schema.context import Info
from schema.errors import UserError, user_error
from schema.loaders import by_id
from schema.pagination import Connection, id_connection
from schema.reps import SalesRep


@strawberry.type(description="An API key. The secret is never shown after creation.")
class ApiKey(relay.Node):
    id: relay.NodeID[int]
    name: str = strawberry.field(description="Who or what uses it")
    prefix: str = strawberry.field(description="Public part of the token, identifies the key")
    role: Role = strawberry.field(description="Its role")
    created_at: datetime = strawberry.field(description="Created at")
    last_used_at: datetime | None = strawberry.field(
        description="Last request with it (recorded at most once a minute)"
    )
    revoked_at: datetime | None = strawberry.field(description="Revoked at, if revoked")
    rep_id: strawberry.Private[int | None]

    @classmethod
    def from_row(cls, row: ApiKeyRow) -> Self:
        return cls(
            id=row.id,
            name=row.name,
            prefix=row.prefix,
            role=row.role,
            created_at=row.created_at,
            last_used_at=row.last_used_at,
            revoked_at=row.revoked_at,
            rep_id=row.rep_id,  # type: ignore[attr-defined]
        )

    @strawberry.field(description="The sales rep a sales key is bound to")
    async def rep(self, info: Info) -> SalesRep | None:
        if self.rep_id is None:
            return None
        row = await info.context.loaders.rep.load(self.rep_id)
        return SalesRep.from_row(row) if row else None

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        if info.context.principal is None or info.context.principal.role != Role.ADMIN:
            return [None for _ in node_ids]  # keys are for admins, like apiKeys
        rows = await by_id(ApiKeyRow)([int(i) for i in node_ids])
        return [cls.from_row(r) if r else None for r in rows]


@strawberry.type(description="Who is calling.")
class Viewer:
    role: Role = strawberry.field(description="Role of the key in use")
    name: str = strawberry.field(description="Key name")
    rep_id: relay.GlobalID | None = strawberry.field(
        description="Global id of the sales rep the key is bound to"
    )

    @strawberry.field(description="The sales rep the key is bound to")
    async def rep(self, info: Info) -> SalesRep | None:
        if self.rep_id is None:
            return None
        row = await info.context.loaders.rep.load(int(self.rep_id.node_id))
        return SalesRep.from_row(row) if row else None


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
        rep = principal.rep_id
        return Viewer(
            role=principal.role,
            name=principal.name,
            rep_id=relay.GlobalID("SalesRep", str(rep)) if rep is not None else None,
        )

    @strawberry.field(description="API keys, newest first (admins only)")
    async def api_keys(
        self,
        info: Info,
        first: Annotated[int | None, strawberry.argument(description="Page size, ≤100")] = None,
        after: Annotated[str | None, strawberry.argument(description="endCursor")] = None,
        include_revoked: Annotated[
            bool, strawberry.argument(description="Also list revoked keys")
        ] = False,
    ) -> Connection[ApiKey]:
        query = ApiKeyRow.all()
        if not include_revoked:
            query = query.filter(revoked_at__isnull=True)
        return await id_connection("api_key", query, ApiKey.from_row, first=first, after=after)


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
