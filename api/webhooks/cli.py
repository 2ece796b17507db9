"""``leadgate webhooks …``: manage endpoints, read the delivery log, redeliver, run delivery."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Annotated, Any, TypeVar

import typer

from api.settings import get_settings

T = TypeVar("T")
app = typer.Typer(help="Signed webhooks to HTTP endpoints.", no_args_is_help=True)


def _run(work: Coroutine[Any, Any, T]) -> T:
    from api.cli_support import with_db as _with_db  # the CLI's one way to open the database

    return asyncio.run(_with_db(work))


async def _owner_ids(emails: list[str]) -> list[int]:
    from api.errors import NotFound
    from api.models import SalesRep

    wanted = {e.lower() for e in emails}
    found = dict(await SalesRep.filter(email__in=wanted).values_list("email", "id"))
    if missing := sorted(wanted - set(found)):
        raise NotFound(f"no sales rep with email {', '.join(missing)}", field="owner")
    return [int(i) for i in found.values()]


@app.command("create")
def create(
    url: Annotated[str, typer.Argument(help="http(s) URL to POST events to")],
    event: Annotated[list[str] | None, typer.Option(help="Event type (repeat); none: all")] = None,
    owner: Annotated[list[str] | None, typer.Option(help="Only this rep's events (email)")] = None,
    segment: Annotated[list[str] | None, typer.Option(help="Only leads in this segment")] = None,
    stage: Annotated[list[str] | None, typer.Option(help="Only leads in this stage")] = None,
    description: Annotated[str | None, typer.Option(help="What it is for")] = None,
) -> None:
    """Create an endpoint and print its id and signing secret (store the secret now)."""
    from api.webhooks.endpoints import EndpointFilters, create_endpoint

    async def work() -> str:
        filters = EndpointFilters(
            events=event or [],
            owner_ids=await _owner_ids(owner or []),
            segments=segment or [],
            stages=stage or [],
        )
        row = await create_endpoint(url=url, filters=filters, description=description)
        return f"endpoint {row.id}\nsecret {row.secret}"

    typer.echo(_run(work()))


@app.command("list")
def list_endpoints() -> None:
    """Every endpoint with its filters and state."""
    from api.models import WebhookEndpoint

    async def work() -> list[WebhookEndpoint]:
        return await WebhookEndpoint.all().order_by("id")

    for row in _run(work()):
        state = "active" if row.active else f"disabled ({row.disabled_reason})"
        filters = ", ".join(
            f"{name}={','.join(map(str, values))}"
            for name, values in (
                ("events", row.events),
                ("owners", row.owner_ids),
                ("segments", row.segments),
                ("stages", row.stages),
            )
            if values
        )
        typer.echo(f"{row.id}\t{state}\t{row.url}\t{filters or 'all events'}")


@app.command("deliveries")
def deliveries(
    endpoint_id: Annotated[int, typer.Argument(help="Endpoint id")],
    status: Annotated[str | None, typer.Option(help="pending, delivered or failed")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
) -> None:
    """An endpoint's delivery log, newest first."""
    from api.models import WebhookDelivery

    async def work() -> list[WebhookDelivery]:
        query = WebhookDelivery.filter(endpoint_id=endpoint_id)
        if status:
            query = query.filter(status=status)
        return await query.order_by("-id").limit(limit)

    for row in _run(work()):
        typer.echo(
            f"{row.id}\tevt_{row.event_id}\t{row.event_type}\t{row.status}\t"
            f"attempts={row.attempts}\tlast={row.last_status_code or row.last_error or '-'}"
        )


@app.command("redeliver")
def redeliver(delivery_id: Annotated[int, typer.Argument(help="Delivery id")]) -> None:
    """Queue a delivery again (same event id); the dispatcher sends it on its next round."""
    from api.webhooks.endpoints import redeliver as queue_again

    row = _run(queue_again(delivery_id=delivery_id))
    typer.echo(f"delivery {row.id} queued again")


@app.command("enable")
def enable(endpoint_id: Annotated[int, typer.Argument(help="Endpoint id")]) -> None:
    """Enable an endpoint (after fixing it): its pending deliveries resume."""
    from api.webhooks.endpoints import update_endpoint

    _run(update_endpoint(endpoint_id=endpoint_id, active=True))
    typer.echo(f"endpoint {endpoint_id} enabled")


@app.command("disable")
def disable(endpoint_id: Annotated[int, typer.Argument(help="Endpoint id")]) -> None:
    """Stop sending to an endpoint."""
    from api.webhooks.endpoints import update_endpoint

    _run(update_endpoint(endpoint_id=endpoint_id, active=False))
    typer.echo(f"endpoint {endpoint_id} disabled")


@app.command("delete")
def delete(endpoint_id: Annotated[int, typer.Argument(help="Endpoint id")]) -> None:
    """Delete an endpoint and its delivery log."""
    from api.webhooks.endpoints import delete_endpoint

    _run(delete_endpoint(endpoint_id=endpoint_id))
    typer.echo(f"endpoint {endpoint_id} deleted")


@app.command("run")
def run() -> None:
    """Deliver webhooks in this process until stopped (servers do it too, unless
    LEADGATE_WEBHOOK_DISPATCH=0)."""
    from api.webhooks.dispatcher import DeliveryPolicy, Dispatcher

    settings = get_settings()

    async def work() -> None:
        dispatcher = Dispatcher(
            policy=DeliveryPolicy.from_settings(settings),
            interval_s=settings.webhook_poll_interval_s,
        )
        try:
            await dispatcher.run()
        finally:
            await dispatcher.close()

    _run(work())
