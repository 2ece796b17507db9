"""Webhook endpoints and their delivery log, for admins and RevOps (issue 15)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Self, cast

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from api.enums import LifecycleStage, Role
from api.errors import LeadgateError
from api.models import WebhookAttempt as AttemptRow
from api.models import WebhookDelivery as DeliveryRow
from api.models import WebhookEndpoint as EndpointRow
from api.webhooks import endpoints as service
from api.webhooks.catalogue import EVENT_TYPES, message_id
from schema.context import Info
from schema.errors import UserError, user_error
from schema.ids import node_id
from schema.pagination import Connection, build_connection, decode_cursor, page_size

MANAGERS = frozenset({Role.ADMIN, Role.REVOPS})


def _may_manage(info: Info) -> bool:
    """``node(id:)`` is open to every role: endpoints and deliveries are not."""
    principal = info.context.principal
    return principal is not None and principal.role in MANAGERS


@strawberry.type(description="A webhook event type an endpoint can subscribe to.")
class WebhookEventType:
    name: str = strawberry.field(description="e.g. handoff.created")
    description: str = strawberry.field(description="When it is sent")


@strawberry.type(description="An HTTP endpoint that receives signed events.")
class WebhookEndpoint(relay.Node):
    id: relay.NodeID[int]
    url: str = strawberry.field(description="Where events are POSTed")
    description: str | None = strawberry.field(description="What it is for")
    events: list[str] = strawberry.field(description="Event types sent (empty: all)")
    owner_ids: list[relay.GlobalID] = strawberry.field(description="Only these owners' events")
    segments: list[str] = strawberry.field(description="Only leads in these segments")
    stages: list[LifecycleStage] = strawberry.field(
        description="Only leads in (or moving between) these stages"
    )
    active: bool = strawberry.field(description="False: nothing is sent")
    disabled_at: datetime | None = strawberry.field(description="When it was disabled")
    disabled_reason: str | None = strawberry.field(description="Why (by hand, or failures)")
    consecutive_failures: int = strawberry.field(description="Failed attempts in a row")
    created_at: datetime = strawberry.field(description="Created at")

    @classmethod
    def from_row(cls, row: EndpointRow) -> Self:
        return cls(
            id=row.id,
            url=row.url,
            description=row.description,
            events=list(row.events),
            owner_ids=[relay.GlobalID("SalesRep", str(i)) for i in row.owner_ids],
            segments=list(row.segments),
            stages=[LifecycleStage(s) for s in row.stages],
            active=row.active,
            disabled_at=row.disabled_at,
            disabled_reason=row.disabled_reason,
            consecutive_failures=row.consecutive_failures,
            created_at=row.created_at,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = [int(i) for i in node_ids]
        rows = {r.id: r for r in await EndpointRow.filter(id__in=ids)} if _may_manage(info) else {}
        return [cls.from_row(rows[i]) if i in rows else None for i in ids]


@strawberry.type(description="One HTTP attempt of a delivery.")
class WebhookAttempt(relay.Node):
    id: relay.NodeID[int]
    status_code: int | None = strawberry.field(description="HTTP status, null on network errors")
    error: str | None = strawberry.field(description="What went wrong, if anything")
    duration_ms: float = strawberry.field(description="Request time")
    attempted_at: datetime = strawberry.field(description="When")

    @classmethod
    def from_row(cls, row: AttemptRow) -> Self:
        return cls(
            id=row.id,
            status_code=row.status_code,
            error=row.error,
            duration_ms=row.duration_ms,
            attempted_at=row.attempted_at,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = [int(i) for i in node_ids]
        rows = {r.id: r for r in await AttemptRow.filter(id__in=ids)} if _may_manage(info) else {}
        return [cls.from_row(rows[i]) if i in rows else None for i in ids]


@strawberry.type(description="One event for one endpoint: its status and attempt log.")
class WebhookDelivery(relay.Node):
    id: relay.NodeID[int]
    event_id: str = strawberry.field(description="The webhook-id header, same on every retry")
    event_type: str = strawberry.field(description="e.g. lead.stage_changed")
    status: str = strawberry.field(description="pending, delivered or failed")
    attempts: int = strawberry.field(description="Attempts since it was (re)queued")
    next_attempt_at: datetime = strawberry.field(description="When it is tried next if pending")
    last_status_code: int | None = strawberry.field(description="Status of the last attempt")
    last_error: str | None = strawberry.field(description="Error of the last attempt")
    delivered_at: datetime | None = strawberry.field(description="First 2xx")
    created_at: datetime = strawberry.field(description="Queued at")
    payload: JSON = strawberry.field(description="The body that is sent")
    attempt_log: list[WebhookAttempt] = strawberry.field(description="Every attempt, oldest first")

    @classmethod
    def from_row(cls, row: DeliveryRow, attempts: Sequence[AttemptRow]) -> Self:
        return cls(
            id=row.id,
            event_id=message_id(row.event_id),
            event_type=row.event_type,
            status=row.status,
            attempts=row.attempts,
            next_attempt_at=row.next_attempt_at,
            last_status_code=row.last_status_code,
            last_error=row.last_error,
            delivered_at=row.delivered_at,
            created_at=row.created_at,
            payload=cast(JSON, row.payload),
            attempt_log=[WebhookAttempt.from_row(a) for a in attempts],
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = [int(i) for i in node_ids]
        rows = await DeliveryRow.filter(id__in=ids) if _may_manage(info) else []
        found = await _with_attempts(rows)
        return [cast(Self, found[i]) if i in found else None for i in ids]


async def _with_attempts(rows: Sequence[DeliveryRow]) -> dict[int, WebhookDelivery]:
    """Deliveries with their attempt logs: one query for the attempts of all of them."""
    log: dict[int, list[AttemptRow]] = {r.id: [] for r in rows}
    if rows:
        attempts = AttemptRow.filter(delivery_id__in=list(log)).order_by("attempted_at", "id")
        for attempt in await attempts:
            log[attempt.delivery_id].append(attempt)  # type: ignore[attr-defined]
    return {r.id: WebhookDelivery.from_row(r, log[r.id]) for r in rows}


@strawberry.input(description="A new webhook endpoint. Empty filters match every event.")
class CreateWebhookEndpointInput:
    url: str = strawberry.field(description="http(s) URL to POST to")
    description: str | None = strawberry.field(default=None, description="What it is for")
    events: list[str] = strawberry.field(default_factory=list, description="Event types")
    owner_ids: list[relay.GlobalID] = strawberry.field(default_factory=list, description="Owners")
    segments: list[str] = strawberry.field(default_factory=list, description="Segments")
    stages: list[LifecycleStage] = strawberry.field(default_factory=list, description="Stages")


@strawberry.input(description="Change an endpoint; omitted fields keep their value.")
class UpdateWebhookEndpointInput:
    id: relay.GlobalID = strawberry.field(description="The endpoint")
    url: str | None = strawberry.field(default=None, description="New URL")
    events: list[str] | None = strawberry.field(default=None, description="Event types")
    owner_ids: list[relay.GlobalID] | None = strawberry.field(default=None, description="Owners")
    segments: list[str] | None = strawberry.field(default=None, description="Segments")
    stages: list[LifecycleStage] | None = strawberry.field(default=None, description="Stages")
    active: bool | None = strawberry.field(default=None, description="Enable or disable")
    rotate_secret: bool = strawberry.field(default=False, description="Issue a new secret")


@strawberry.type(description="The endpoint, and its signing secret when it was just issued.")
class WebhookEndpointPayload:
    endpoint: WebhookEndpoint | None = strawberry.field(description="The endpoint")
    secret: str | None = strawberry.field(description="whsec_… signing secret, shown this once")
    user_errors: list[UserError] = strawberry.field(description="Empty on success")


@strawberry.type(description="What was deleted.")
class DeleteWebhookEndpointPayload:
    deleted_id: relay.GlobalID | None = strawberry.field(description="Id of the endpoint")
    user_errors: list[UserError] = strawberry.field(description="Empty on success")


@strawberry.type(description="The delivery, queued again.")
class RedeliverWebhookPayload:
    delivery: WebhookDelivery | None = strawberry.field(description="The delivery")
    user_errors: list[UserError] = strawberry.field(description="Empty on success")


def _owners(ids: Sequence[relay.GlobalID]) -> list[int]:
    return [node_id(i, "SalesRep", "ownerIds") for i in ids]


@strawberry.type
class WebhookQueries:
    @strawberry.field(description="Event types endpoints can subscribe to")
    def webhook_event_types(self) -> list[WebhookEventType]:
        return [WebhookEventType(name=k, description=v) for k, v in EVENT_TYPES.items()]

    @strawberry.field(description="Every webhook endpoint")
    async def webhook_endpoints(self, info: Info) -> list[WebhookEndpoint]:
        return [WebhookEndpoint.from_row(r) for r in await EndpointRow.all().order_by("id")]

    @strawberry.field(description="An endpoint's delivery log, newest first")
    async def webhook_deliveries(
        self,
        info: Info,
        endpoint_id: relay.GlobalID,
        status: str | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[WebhookDelivery]:
        size = page_size(first)
        query = DeliveryRow.filter(
            endpoint_id=node_id(endpoint_id, "WebhookEndpoint", "endpointId")
        )
        if status is not None:
            query = query.filter(status=status)
        count = query.count
        if after is not None:
            query = query.filter(id__lt=decode_cursor("WebhookDelivery", after))
        rows = await query.order_by("-id").limit(size + 1)
        found = await _with_attempts(rows)
        return build_connection(
            "WebhookDelivery",
            [found[r.id] for r in rows],
            [r.id for r in rows],
            size,
            after,
            count=count,
        )


@strawberry.type
class WebhookMutations:
    @strawberry.mutation(description="Subscribe an HTTP endpoint to events")
    async def create_webhook_endpoint(
        self, info: Info, input: CreateWebhookEndpointInput
    ) -> WebhookEndpointPayload:
        try:
            row = await service.create_endpoint(
                url=input.url,
                description=input.description,
                filters=service.EndpointFilters(
                    events=input.events,
                    owner_ids=_owners(input.owner_ids),
                    segments=input.segments,
                    stages=[s.value for s in input.stages],
                ),
            )
        except LeadgateError as exc:
            return WebhookEndpointPayload(endpoint=None, secret=None, user_errors=[user_error(exc)])
        return WebhookEndpointPayload(
            endpoint=WebhookEndpoint.from_row(row), secret=row.secret, user_errors=[]
        )

    @strawberry.mutation(description="Change, enable, disable or re-key an endpoint")
    async def update_webhook_endpoint(
        self, info: Info, input: UpdateWebhookEndpointInput
    ) -> WebhookEndpointPayload:
        try:
            endpoint_id = node_id(input.id, "WebhookEndpoint", "id")
            current = await service.get_endpoint(endpoint_id)
            changed = (input.events, input.owner_ids, input.segments, input.stages)
            filters = None
            if any(v is not None for v in changed):
                filters = service.EndpointFilters(
                    events=current.events if input.events is None else input.events,
                    owner_ids=current.owner_ids
                    if input.owner_ids is None
                    else _owners(input.owner_ids),
                    segments=current.segments if input.segments is None else input.segments,
                    stages=current.stages
                    if input.stages is None
                    else [s.value for s in input.stages],
                )
            row = await service.update_endpoint(
                endpoint_id=endpoint_id,
                url=input.url,
                filters=filters,
                active=input.active,
                rotate_secret=input.rotate_secret,
            )
        except LeadgateError as exc:
            return WebhookEndpointPayload(endpoint=None, secret=None, user_errors=[user_error(exc)])
        secret = row.secret if input.rotate_secret else None
        return WebhookEndpointPayload(
            endpoint=WebhookEndpoint.from_row(row), secret=secret, user_errors=[]
        )

    @strawberry.mutation(description="Delete an endpoint and its delivery log")
    async def delete_webhook_endpoint(
        self, info: Info, id: relay.GlobalID
    ) -> DeleteWebhookEndpointPayload:
        try:
            await service.delete_endpoint(endpoint_id=node_id(id, "WebhookEndpoint", "id"))
        except LeadgateError as exc:
            return DeleteWebhookEndpointPayload(
                deleted_id=None, user_errors=[user_error(exc, prefix=())]
            )
        return DeleteWebhookEndpointPayload(deleted_id=id, user_errors=[])

    @strawberry.mutation(description="Send a delivery again (same event id) as soon as possible")
    async def redeliver_webhook(
        self, info: Info, delivery_id: relay.GlobalID
    ) -> RedeliverWebhookPayload:
        try:
            row = await service.redeliver(
                delivery_id=node_id(delivery_id, "WebhookDelivery", "deliveryId")
            )
        except LeadgateError as exc:
            return RedeliverWebhookPayload(delivery=None, user_errors=[user_error(exc, prefix=())])
        found = await _with_attempts([row])
        return RedeliverWebhookPayload(delivery=found[row.id], user_errors=[])
