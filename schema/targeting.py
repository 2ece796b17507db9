"""Targeting adjustments: what sales feedback taught the rulebook, for marketing to act on."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated, Self

import strawberry
from strawberry import relay

from api.errors import LeadgateError
from api.models import TargetingAdjustment as AdjustmentRow
from api.targeting import revoke_adjustment
from schema.context import Info
from schema.errors import UserError, user_error
from schema.followups import feedback_recorded
from schema.ids import node_id
from schema.loaders import by_id
from schema.pagination import Connection, id_connection


@strawberry.type(
    description="A bounded, expiring score change derived from a pattern of sales feedback."
)
class TargetingAdjustment(relay.Node):
    id: relay.NodeID[int]
    rule: str = strawberry.field(description="Feedback rule that produced it")
    score: str = strawberry.field(description="Score it changes, e.g. fit")
    delta: float = strawberry.field(description="Points added (negative: fewer)")
    scope_kind: str = strawberry.field(description="segment or campaign")
    scope_value: str = strawberry.field(description="Which segment or campaign key")
    reason: str = strawberry.field(description="Why, in words")
    caused_by: list[relay.GlobalID] = strawberry.field(
        description="Global ids of the Feedback that made the rule fire"
    )
    rulebook_version: str = strawberry.field(description="Rulebook that produced it")
    starts_at: datetime = strawberry.field(description="In force from")
    expires_at: datetime = strawberry.field(description="In force until")
    revoked_at: datetime | None = strawberry.field(description="Revoked early, if so")
    revoked_by: str | None = strawberry.field(description="Who revoked it")
    revoke_reason: str | None = strawberry.field(description="Why it was revoked")

    @classmethod
    def from_row(cls, row: AdjustmentRow) -> Self:
        return cls(
            id=row.id,
            rule=row.rule,
            score=row.score,
            delta=row.delta,
            scope_kind=row.scope_kind,
            scope_value=row.scope_value,
            reason=row.reason,
            caused_by=[relay.GlobalID("Feedback", str(i)) for i in row.caused_by],
            rulebook_version=row.rulebook_version,
            starts_at=row.starts_at,
            expires_at=row.expires_at,
            revoked_at=row.revoked_at,
            revoked_by=row.revoked_by,
            revoke_reason=row.revoke_reason,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: strawberry.Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        rows = await by_id(AdjustmentRow)([int(i) for i in node_ids])
        return [cls.from_row(r) if r else None for r in rows]


@strawberry.type
class TargetingQueries:
    @strawberry.field(description="Targeting adjustments, newest first (active only by default)")
    async def targeting_adjustments(
        self,
        info: Info,
        active_only: Annotated[
            bool, strawberry.argument(description="Only those in force now")
        ] = True,
        scope_kind: Annotated[
            str | None, strawberry.argument(description="segment or campaign")
        ] = None,
        first: Annotated[int | None, strawberry.argument(description="Page size, ≤100")] = None,
        after: Annotated[str | None, strawberry.argument(description="endCursor")] = None,
    ) -> Connection[TargetingAdjustment]:
        query = AdjustmentRow.all()
        if active_only:
            now = datetime.now(UTC)
            query = query.filter(starts_at__lte=now, expires_at__gt=now, revoked_at__isnull=True)
        if scope_kind is not None:
            query = query.filter(scope_kind=scope_kind)
        return await id_connection(
            "targeting", query, TargetingAdjustment.from_row, first=first, after=after
        )


@strawberry.input(description="End a targeting adjustment early.")
class RevokeTargetingAdjustmentInput:
    id: relay.GlobalID = strawberry.field(description="The adjustment")
    reason: str = strawberry.field(description="Why, for the record (≤500 characters)")


@strawberry.type(description="Result of revokeTargetingAdjustment.")
class RevokeTargetingAdjustmentPayload:
    adjustment: TargetingAdjustment | None = strawberry.field(description="After revoking")
    user_errors: list[UserError] = strawberry.field(description="Empty on success")


@strawberry.type
class TargetingMutations:
    @strawberry.mutation(
        description="Revoke a targeting adjustment (who and why are kept); its leads are "
        "re-scored in the background"
    )
    async def revoke_targeting_adjustment(
        self, info: Info, input: RevokeTargetingAdjustmentInput
    ) -> RevokeTargetingAdjustmentPayload:
        principal = info.context.principal
        try:
            row = await revoke_adjustment(
                adjustment_id=node_id(input.id, "TargetingAdjustment", "id"),
                reason=input.reason,
                actor=principal.actor if principal else "api",
            )
        except LeadgateError as exc:
            return RevokeTargetingAdjustmentPayload(adjustment=None, user_errors=[user_error(exc)])
        feedback_recorded(info)
        return RevokeTargetingAdjustmentPayload(
            adjustment=TargetingAdjustment.from_row(row), user_errors=[]
        )
