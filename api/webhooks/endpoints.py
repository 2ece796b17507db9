"""Managing webhook endpoints: validation, filters, enabling, manual redelivery."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from tortoise.transactions import in_transaction

from api.enums import LifecycleStage
from api.errors import InvalidInput, NotFound
from api.models import SalesRep, WebhookDelivery, WebhookEndpoint
from api.webhooks.catalogue import EVENT_TYPES, WebhookEvent
from api.webhooks.signing import new_secret


@dataclass(frozen=True, slots=True)
class EndpointFilters:
    """Empty lists match everything; a non-empty list must contain the event's value."""

    events: Sequence[str] = ()
    owner_ids: Sequence[int] = ()
    segments: Sequence[str] = ()
    stages: Sequence[str] = ()


def matches(endpoint: WebhookEndpoint, event: WebhookEvent) -> bool:
    """Does this endpoint want this event? Events without an owner never match an owner filter."""
    if endpoint.events and event.type not in endpoint.events:
        return False
    if endpoint.owner_ids and event.owner_id not in endpoint.owner_ids:
        return False
    if endpoint.segments and event.segment not in endpoint.segments:
        return False
    return not endpoint.stages or bool(event.stages & set(endpoint.stages))


def _check_url(url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(
            f"not an http(s) URL: {url!r}", field="url", suggestion="e.g. https://crm.example/hook"
        )
    if len(url) > 2000:
        raise InvalidInput("url is longer than 2000 characters", field="url")
    return url.strip()


async def _check_filters(filters: EndpointFilters) -> None:
    unknown = sorted(set(filters.events) - set(EVENT_TYPES))
    if unknown:
        raise InvalidInput(
            f"unknown event types {unknown}",
            field="events",
            suggestion=f"one of: {', '.join(EVENT_TYPES)}",
        )
    stages = {s.value for s in LifecycleStage}
    if bad := sorted(set(filters.stages) - stages):
        raise InvalidInput(
            f"unknown stages {bad}", field="stages", suggestion=f"one of: {', '.join(stages)}"
        )
    if filters.owner_ids:
        found = await SalesRep.filter(id__in=list(filters.owner_ids)).count()
        if found != len(set(filters.owner_ids)):
            raise NotFound("an owner in the filter is not a sales rep", field="ownerIds")


async def create_endpoint(
    *, url: str, filters: EndpointFilters, description: str | None = None
) -> WebhookEndpoint:
    """A new active endpoint with a fresh signing secret (the caller shows it to the user)."""
    url = _check_url(url)
    await _check_filters(filters)
    return await WebhookEndpoint.create(
        url=url,
        description=description,
        secret=new_secret(),
        events=sorted(set(filters.events)),
        owner_ids=sorted(set(filters.owner_ids)),
        segments=sorted(set(filters.segments)),
        stages=sorted(set(filters.stages)),
    )


async def get_endpoint(endpoint_id: int) -> WebhookEndpoint:
    endpoint = await WebhookEndpoint.get_or_none(id=endpoint_id)
    if endpoint is None:
        raise NotFound(f"no webhook endpoint with id {endpoint_id}", field="id")
    return endpoint


async def update_endpoint(
    *,
    endpoint_id: int,
    url: str | None = None,
    filters: EndpointFilters | None = None,
    active: bool | None = None,
    rotate_secret: bool = False,
) -> WebhookEndpoint:
    """Change what is given. Enabling resets the failure count, so delivery resumes."""
    endpoint = await get_endpoint(endpoint_id)
    if url is not None:
        endpoint.url = _check_url(url)
    if filters is not None:
        await _check_filters(filters)
        endpoint.events = sorted(set(filters.events))
        endpoint.owner_ids = sorted(set(filters.owner_ids))
        endpoint.segments = sorted(set(filters.segments))
        endpoint.stages = sorted(set(filters.stages))
    if active is True and not endpoint.active:
        endpoint.active = True
        endpoint.disabled_at = endpoint.disabled_reason = None
        endpoint.consecutive_failures = 0
    elif active is False and endpoint.active:
        endpoint.active = False
        endpoint.disabled_at = datetime.now(UTC)
        endpoint.disabled_reason = "disabled by hand"
    if rotate_secret:
        endpoint.secret = new_secret()
    await endpoint.save()
    return endpoint


async def delete_endpoint(*, endpoint_id: int) -> WebhookEndpoint:
    endpoint = await get_endpoint(endpoint_id)
    await endpoint.delete()
    return endpoint


async def redeliver(*, delivery_id: int, now: datetime | None = None) -> WebhookDelivery:
    """Send a delivery again, whatever its status, as soon as the dispatcher runs."""
    async with in_transaction():
        delivery = await WebhookDelivery.get_or_none(id=delivery_id)
        if delivery is None:
            raise NotFound(f"no webhook delivery with id {delivery_id}", field="deliveryId")
        delivery.status = "pending"
        delivery.attempts = 0
        delivery.next_attempt_at = now or datetime.now(UTC)
        await delivery.save(update_fields=["status", "attempts", "next_attempt_at"])
    return delivery
