"""Stored records a lead accumulates, as Relay nodes: its activities, stage changes and the
sales feedback about it. Each has a global id, so client caches normalise them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Self, cast

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from api.enums import FeedbackKind, LifecycleStage
from api.models import Activity as ActivityRow
from api.models import Feedback as FeedbackRow
from api.models import LeadStageChange as LeadStageChangeRow
from schema.loaders import by_id


@strawberry.type(description="Something a lead did: a page view, a form, a demo request…")
class Activity(relay.Node):
    id: relay.NodeID[int]
    type: str = strawberry.field(description="e.g. page_view, demo_request")
    occurred_at: datetime = strawberry.field(description="When it happened")
    source: str | None = strawberry.field(description="Where it came from")
    external_id: str | None = strawberry.field(description="The sender's id (idempotency)")
    properties: JSON = strawberry.field(description="Free-form details")
    created_at: datetime = strawberry.field(description="Stored at")

    @classmethod
    def from_row(cls, row: ActivityRow) -> Self:
        return cls(
            id=row.id,
            type=row.type,
            occurred_at=row.occurred_at,
            source=row.source,
            external_id=row.external_id,
            properties=cast(JSON, row.properties),
            created_at=row.created_at,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: strawberry.Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        rows = await by_id(ActivityRow)([int(i) for i in node_ids])
        return [cls.from_row(r) if r else None for r in rows]


@strawberry.type(description="One lifecycle move of a lead, including refused ones.")
class LeadStageChange(relay.Node):
    id: relay.NodeID[int]
    from_stage: LifecycleStage = strawberry.field(description="Stage left")
    to_stage: LifecycleStage = strawberry.field(description="Stage asked for")
    applied: bool = strawberry.field(description="false: the lifecycle refused the move")
    reason: str | None = strawberry.field(description="Rule name or reason code")
    actor: str | None = strawberry.field(description="Who moved it: rule:<name> or a key")
    changed_at: datetime = strawberry.field(description="When")

    @classmethod
    def from_row(cls, row: LeadStageChangeRow) -> Self:
        return cls(
            id=row.id,
            from_stage=row.from_stage,
            to_stage=row.to_stage,
            applied=row.applied,
            reason=row.reason,
            actor=row.actor,
            changed_at=row.changed_at,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: strawberry.Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        rows = await by_id(LeadStageChangeRow)([int(i) for i in node_ids])
        return [cls.from_row(r) if r else None for r in rows]


@strawberry.type(description="What sales told marketing: a rejection, disqualification, win…")
class Feedback(relay.Node):
    id: relay.NodeID[int]
    kind: FeedbackKind = strawberry.field(description="rejected, disqualified, recycled, won, lost")
    reason_code: str | None = strawberry.field(description="Reason code of the rulebook")
    note: str | None = strawberry.field(description="Free text")
    segment: str | None = strawberry.field(description="Segment of the lead's account then")
    created_at: datetime = strawberry.field(description="When")

    @classmethod
    def from_row(cls, row: FeedbackRow) -> Self:
        return cls(
            id=row.id,
            kind=row.kind,
            reason_code=row.reason_code,
            note=row.note,
            segment=row.segment,
            created_at=row.created_at,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: strawberry.Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        rows = await by_id(FeedbackRow)([int(i) for i in node_ids])
        return [cls.from_row(r) if r else None for r in rows]
