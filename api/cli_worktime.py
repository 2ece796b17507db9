"""``leadgate reps away|back|absences|hours|calendar``: reps' working time from a terminal.

The same services as the GraphQL mutations (api/worktime.py), audited with actor ``cli``.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated

import typer

from api.admin_cli import CLI_ACTOR, _rep_id, reps_app
from api.cli_support import table, with_db
from api.settings import get_settings

_WHEN_HELP = "ISO 8601 with offset, e.g. 2026-12-07T09:00+01:00 (no offset: UTC)"


def _instant(text: str, option: str) -> datetime:
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"not a date-time: {text!r}", param_hint=option) from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


@reps_app.command("away")
def reps_away(
    email: Annotated[str, typer.Argument(help="The rep's email")],
    starts: Annotated[str, typer.Option("--from", help=f"Away from: {_WHEN_HELP}")],
    ends: Annotated[str, typer.Option("--until", help=f"Back at: {_WHEN_HELP}")],
    note: Annotated[str, typer.Option(help="Free text")] = "",
) -> None:
    """Add an out-of-office period: routing skips the rep meanwhile."""
    from api.worktime import add_absence

    async def run() -> str:
        absence = await add_absence(
            rep_id=await _rep_id(email),
            starts_at=_instant(starts, "--from"),
            ends_at=_instant(ends, "--until"),
            note=note,
            actor=CLI_ACTOR,
        )
        return f"absence {absence.id}: {email} away {_span(absence.starts_at, absence.ends_at)}"

    typer.echo(asyncio.run(with_db(run())))


@reps_app.command("back")
def reps_back(
    absence: Annotated[int, typer.Argument(help="Absence number (`reps absences`)")],
) -> None:
    """Remove an out-of-office period."""
    from api.worktime import remove_absence

    async def run() -> str:
        row = await remove_absence(absence_id=absence, actor=CLI_ACTOR)
        return f"removed absence {row.id} ({_span(row.starts_at, row.ends_at)})"

    typer.echo(asyncio.run(with_db(run())))


@reps_app.command("absences")
def reps_absences(
    email: Annotated[str | None, typer.Argument(help="Only this rep")] = None,
) -> None:
    """Out-of-office periods that have not ended."""

    async def run() -> str:
        from api.models import RepAbsence

        query = RepAbsence.filter(ends_at__gt=datetime.now(UTC)).order_by("starts_at", "id")
        if email is not None:
            query = query.filter(rep_id=await _rep_id(email))
        rows = [
            [str(a.id), a.rep.email, _span(a.starts_at, a.ends_at), a.note or "-", a.set_by]
            for a in await query.prefetch_related("rep")
        ]
        return table(["absence", "rep", "period (UTC)", "note", "set by"], rows)

    typer.echo(asyncio.run(with_db(run())))


@reps_app.command("hours")
def reps_hours(
    email: Annotated[str, typer.Argument(help="The rep's email")],
    time_zone: Annotated[str | None, typer.Option(help="IANA time zone, e.g. Europe/Paris")] = None,
    hours: Annotated[
        list[str] | None,
        typer.Option(help='Days=intervals, e.g. "mon-fri=09:00-12:00,13:00-17:00" (repeatable)'),
    ] = None,
    holidays: Annotated[str | None, typer.Option(help="Holiday country, e.g. FR")] = None,
    subdivision: Annotated[str | None, typer.Option(help="Holiday subdivision, e.g. BY")] = None,
) -> None:
    """Set the rep's own calendar; options left out take the territory default."""
    from api.worktime import WorkingTimeSettings, set_working_time

    week = None
    if hours:
        week = {}
        for item in hours:
            days, _, spans = item.partition("=")
            week[days.strip()] = [s.strip() for s in spans.split(",") if s.strip()]

    async def run() -> str:
        rep = await set_working_time(
            rep_id=await _rep_id(email),
            settings=WorkingTimeSettings(time_zone, week, holidays, subdivision),
            actor=CLI_ACTOR,
        )
        return await _calendar_text(rep.email)

    typer.echo(asyncio.run(with_db(run())))


@reps_app.command("calendar")
def reps_calendar(email: Annotated[str, typer.Argument(help="The rep's email")]) -> None:
    """The rep's calendar (own settings over the territory default) and availability now."""
    typer.echo(asyncio.run(with_db(_calendar_text(email))))


async def _calendar_text(email: str) -> str:
    from api.models import SalesRep
    from api.worktime import availability, current_absences
    from rules import load_rulebook

    rep = await SalesRep.get(id=await _rep_id(email))
    now = datetime.now(UTC)
    [absences] = await current_absences([rep.id], now)
    book = load_rulebook(get_settings().rules_dir)
    state = availability(book.working_time, rep, absences, now)
    cal = state.calendar
    own = "own" if rep.time_zone or rep.working_hours or rep.holiday_country else "territory"
    region = f"-{cal.holiday_subdivision}" if cal.holiday_subdivision else ""
    lines = [
        f"{rep.email} ({rep.territory}, {own} calendar): {cal.time_zone}, holidays "
        f"{cal.holiday_country or '-'}{region}",
        *(f"  {day}: {', '.join(spans)}" for day, spans in cal.hours.as_spec().items()),
        f"  now: {'available' if state.available else state.reason}",
    ]
    lines += [f"  away {_span(a.starts_at, a.ends_at)} {a.note}".rstrip() for a in absences]
    return "\n".join(lines)


def _span(starts: datetime, ends: datetime) -> str:
    return f"{starts.astimezone(UTC):%Y-%m-%d %H:%M} → {ends.astimezone(UTC):%Y-%m-%d %H:%M}"
