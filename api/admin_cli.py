"""``leadgate reps|campaigns|lead|apikey list``: the admin surface from a terminal. Each command
calls the same service as the GraphQL mutation, so both are audited alike (actor ``cli``)."""

from __future__ import annotations

import asyncio
import json
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

import typer

from api.cli_support import table, with_db
from api.settings import get_settings

CLI_ACTOR = "cli"

reps_app = typer.Typer(help="Sales reps that routing assigns handoffs to.", no_args_is_help=True)
campaigns_app = typer.Typer(help="Campaigns and what they cost.", no_args_is_help=True)
lead_app = typer.Typer(help="A person's data: export it, or erase it.", no_args_is_help=True)

DateOption = typer.Option(formats=["%Y-%m-%d"])


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


async def api_key_table(*, include_revoked: bool) -> str:
    from api.models import ApiKey

    query = ApiKey.all().order_by("id").prefetch_related("rep")
    if not include_revoked:
        query = query.filter(revoked_at__isnull=True)
    rows = [
        [k.prefix, k.name, k.role.value, k.rep.email if k.rep else "-", _when(k.created_at),
         _when(k.last_used_at), _when(k.revoked_at)]
        for k in await query
    ]  # fmt: skip
    header = ["prefix", "name", "role", "rep", "created", "last used", "revoked"]
    return table(header, rows)


async def _rep_id(email: str) -> int:
    from api.errors import NotFound
    from api.models import SalesRep

    rep = await SalesRep.get_or_none(email=email.strip().lower())
    if rep is None:
        raise NotFound(f"no sales rep with email {email}", field="email")
    return rep.id


@reps_app.command("list")
def reps_list(
    all_reps: Annotated[bool, typer.Option("--all", help="Also list inactive reps")] = False,
) -> None:
    """Reps with territory, segments, capacity and pending handoffs."""
    from api.reps import open_handoff_counts

    async def run() -> str:
        from api.models import SalesRep

        query = SalesRep.all().order_by("id")
        if not all_reps:
            query = query.filter(active=True)
        reps = await query
        load = await open_handoff_counts([r.id for r in reps])
        rows = [
            [r.email, r.name, r.territory, ",".join(r.segments) or "-",
             f"{n}/{r.capacity}", "yes" if r.active else "no"]
            for r, n in zip(reps, load, strict=True)
        ]  # fmt: skip
        return table(["email", "name", "territory", "segments", "open", "active"], rows)

    typer.echo(asyncio.run(with_db(run())))


@reps_app.command("create")
def reps_create(
    email: Annotated[str, typer.Argument(help="Work email")],
    name: Annotated[str, typer.Option(help="Display name")],
    territory: Annotated[str, typer.Option(help="Territory, e.g. NA")],
    segment: Annotated[list[str] | None, typer.Option(help="Segment covered (repeatable)")] = None,
    capacity: Annotated[int, typer.Option(help="Pending handoffs they can hold")] = 50,
) -> None:
    """Create a sales rep (active)."""
    from api.reps import create_rep

    rep = asyncio.run(
        with_db(
            create_rep(email=email, name=name, territory=territory, segments=segment or [],
                       capacity=capacity, actor=CLI_ACTOR)
        )
    )  # fmt: skip
    typer.echo(f"created rep {rep.email} ({rep.territory})")


async def _update(email: str, **changes: object) -> str:
    from api.engine import RulesEngine
    from api.reps import RepChanges, update_rep

    settings = get_settings()
    engine = RulesEngine.from_dir(settings.rules_dir, workers=1)
    try:
        rep, reroutes = await update_rep(
            rep_id=await _rep_id(email),
            changes=RepChanges(**changes),  # type: ignore[arg-type]
            actor=CLI_ACTOR,
            engine=engine,
        )
    finally:
        await engine.close()
    lines = [f"updated rep {rep.email}: active={rep.active}, capacity={rep.capacity}"]
    lines += [
        f"  handoff {r.handoff_id} → "
        + (f"rep {r.new_owner_id}" if r.new_owner_id else "unrouted")
        + f": {r.why}"
        for r in reroutes
    ]
    return "\n".join(lines)


@reps_app.command("update")
def reps_update(
    email: Annotated[str, typer.Argument(help="The rep's email")],
    name: Annotated[str | None, typer.Option(help="Display name")] = None,
    territory: Annotated[str | None, typer.Option(help="Territory")] = None,
    segment: Annotated[list[str] | None, typer.Option(help="Segments (replaces them)")] = None,
    capacity: Annotated[int | None, typer.Option(help="Handoff capacity")] = None,
    active: Annotated[bool | None, typer.Option("--active/--inactive", help="Status")] = None,
) -> None:
    """Change a rep; --inactive re-routes their pending handoffs."""
    out = asyncio.run(
        with_db(
            _update(email, name=name, territory=territory, segments=segment, capacity=capacity,
                    active=active)
        )
    )  # fmt: skip
    typer.echo(out)


@reps_app.command("deactivate")
def reps_deactivate(email: Annotated[str, typer.Argument(help="The rep's email")]) -> None:
    """Deactivate a rep and re-route their pending handoffs by the routing rules."""
    typer.echo(asyncio.run(with_db(_update(email, active=False))))


async def _campaign_id(key: str) -> int:
    from api.errors import NotFound
    from api.models import Campaign

    campaign = await Campaign.get_or_none(key=key)
    if campaign is None:
        raise NotFound(f"no campaign with key {key!r}", field="key")
    return campaign.id


@campaigns_app.command("list")
def campaigns_list() -> None:
    """Campaigns with dates, cost and first-touch lead counts."""
    from api.campaigns import first_touch_lead_counts

    async def run() -> str:
        from api.models import Campaign

        rows = await Campaign.all().order_by("id")
        leads = await first_touch_lead_counts([c.id for c in rows])
        return table(
            ["key", "name", "channel", "starts", "ends", "cost", "budget", "leads", "closed"],
            [
                [c.key, c.name, c.channel, str(c.starts_on or "-"), str(c.ends_on or "-"),
                 f"{c.cost} {c.currency}", str(c.budget or "-"), str(n),
                 _when(c.closed_at)]
                for c, n in zip(rows, leads, strict=True)
            ],
        )  # fmt: skip

    typer.echo(asyncio.run(with_db(run())))


@campaigns_app.command("create")
def campaigns_create(
    key: Annotated[str, typer.Argument(help="Key intake sends as campaignKey")],
    name: Annotated[str, typer.Option(help="Display name")],
    channel: Annotated[str, typer.Option(help="e.g. webinar, paid")],
    starts: Annotated[datetime | None, DateOption] = None,
    ends: Annotated[datetime | None, DateOption] = None,
    budget: Annotated[str | None, typer.Option(help="Planned spend")] = None,
    cost: Annotated[str | None, typer.Option(help="Initial cost, on the start day")] = None,
    currency: Annotated[str, typer.Option(help="ISO 4217")] = "USD",
) -> None:
    """Create a campaign."""
    from api.campaigns import CampaignChanges, create_campaign

    changes = CampaignChanges(
        name=name, channel=channel, starts_on=_day(starts), ends_on=_day(ends),
        budget=_money(budget, "budget"), currency=currency,
    )  # fmt: skip
    campaign = asyncio.run(
        with_db(
            create_campaign(key=key, changes=changes, initial_cost=_money(cost, "cost"),
                            actor=CLI_ACTOR)
        )
    )  # fmt: skip
    typer.echo(f"created campaign {campaign.key} (cost {campaign.cost} {campaign.currency})")


@campaigns_app.command("update")
def campaigns_update(
    key: Annotated[str, typer.Argument(help="The campaign's key")],
    name: Annotated[str | None, typer.Option(help="Display name")] = None,
    channel: Annotated[str | None, typer.Option(help="Channel")] = None,
    starts: Annotated[datetime | None, DateOption] = None,
    ends: Annotated[datetime | None, DateOption] = None,
    budget: Annotated[str | None, typer.Option(help="Planned spend")] = None,
) -> None:
    """Change a campaign's name, channel, dates or budget."""
    from api.campaigns import CampaignChanges, update_campaign

    changes = CampaignChanges(
        name=name, channel=channel, starts_on=_day(starts), ends_on=_day(ends),
        budget=_money(budget, "budget"),
    )  # fmt: skip

    async def run() -> str:
        campaign = await update_campaign(
            campaign_id=await _campaign_id(key), changes=changes, actor=CLI_ACTOR
        )
        return f"updated campaign {campaign.key}"

    typer.echo(asyncio.run(with_db(run())))


@campaigns_app.command("close")
def campaigns_close(
    key: Annotated[str, typer.Argument(help="The campaign's key")],
    ends: Annotated[datetime | None, DateOption] = None,
) -> None:
    """Close a campaign (its history and costs stay)."""
    from api.campaigns import close_campaign

    async def run() -> str:
        campaign = await close_campaign(
            campaign_id=await _campaign_id(key), on=_day(ends), actor=CLI_ACTOR
        )
        return f"closed campaign {campaign.key} on {campaign.ends_on}"

    typer.echo(asyncio.run(with_db(run())))


@campaigns_app.command("cost")
def campaigns_cost(
    key: Annotated[str, typer.Argument(help="The campaign's key")],
    amount: Annotated[str, typer.Argument(help="Amount spent")],
    on: Annotated[datetime, DateOption],
    note: Annotated[str | None, typer.Option(help="What it was for")] = None,
) -> None:
    """Record money spent on a campaign on a day (CAC counts it in that day's period)."""
    from api.campaigns import add_cost

    spent = _money(amount, "amount")
    assert spent is not None

    async def run() -> str:
        entry = await add_cost(
            campaign_id=await _campaign_id(key), amount=spent, incurred_on=on.date(), note=note,
            actor=CLI_ACTOR,
        )  # fmt: skip
        return f"recorded {entry.amount} on {entry.incurred_on} for {key}"

    typer.echo(asyncio.run(with_db(run())))


async def _lead_id(email: str) -> int:
    from api.errors import NotFound
    from api.models import Lead

    lead = await Lead.get_or_none(email=email.strip().lower())
    if lead is None:
        raise NotFound(f"no lead with email {email}", field="email")
    return lead.id


@lead_app.command("export")
def lead_export(email: Annotated[str, typer.Argument(help="The lead's email")]) -> None:
    """Print everything stored about a person as JSON (audited)."""
    from api.privacy import export_lead

    async def run() -> object:
        return await export_lead(lead_id=await _lead_id(email), actor=CLI_ACTOR)

    _print_json(asyncio.run(with_db(run())))


@lead_app.command("erase")
def lead_erase(
    email: Annotated[str, typer.Argument(help="The lead's email")],
    reason: Annotated[str, typer.Option(help="Why, for the audit trail")],
    tombstone: Annotated[
        bool | None,
        typer.Option("--tombstone/--no-tombstone", help="Refuse re-creation of this email"),
    ] = None,
) -> None:
    """Erase a person's data everywhere it is stored; decisions and metrics stay (audited)."""
    from api.privacy import erase_lead

    keep = get_settings().erasure_tombstones if tombstone is None else tombstone

    async def run() -> str:
        lead = await erase_lead(
            lead_id=await _lead_id(email), reason=reason, actor=CLI_ACTOR, tombstone=keep
        )
        return f"erased lead {lead.id} (now {lead.email}); tombstone: {'yes' if keep else 'no'}"

    typer.echo(asyncio.run(with_db(run())))


def _day(value: datetime | None) -> date | None:
    return value.date() if value else None


def _money(value: str | None, field: str) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(value)
    except ArithmeticError as exc:
        raise typer.BadParameter(f"{field} must be a number, got {value!r}") from exc


def _print_json(data: object) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))
