"""Reps' working time in the database: their own calendar settings and out-of-office periods.

A rep's time zone, weekly hours and holiday country override the rulebook's territory default
(rules/calendars.py); out-of-office periods are rows of their own. Everything is checked with the
same parser the rulebook uses (rules/worktime.py), so a stored value can always be evaluated.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tortoise.transactions import in_transaction

from api import audit
from api.errors import Conflict, InvalidInput, NotFound
from api.locking import for_update
from api.models import RepAbsence, SalesRep
from rules import AbsenceData, RepData
from rules.calendars import rep_calendar
from rules.rulebook import WorkingTime
from rules.worktime import (
    Calendar,
    WorkTimeError,
    check_holidays,
    next_available,
    parse_hours,
    unavailable_reason,
    zone,
)

MAX_ABSENCE = timedelta(days=366)
"""Longest out-of-office period (longer absences: deactivate the rep)."""


@dataclass(frozen=True, slots=True)
class WorkingTimeSettings:
    """A rep's own calendar; None takes the territory default from the rulebook."""

    time_zone: str | None = None
    working_hours: dict[str, list[str]] | None = None
    holiday_country: str | None = None
    holiday_subdivision: str | None = None


def rep_data(
    row: SalesRep, *, open_handoffs: int = 0, absences: Sequence[RepAbsence] = ()
) -> RepData:
    """The evaluator's view of a rep (routing state and calendar)."""
    return RepData(
        rep_id=str(row.id),
        name=row.name,
        email=row.email,
        territory=row.territory,
        segments=list(row.segments),
        capacity=row.capacity,
        open_handoffs=open_handoffs,
        active=row.active,
        last_assigned_at=row.last_assigned_at,
        time_zone=row.time_zone,
        working_hours=row.working_hours,
        holiday_country=row.holiday_country,
        holiday_subdivision=row.holiday_subdivision,
        out_of_office=[
            AbsenceData(starts_at=a.starts_at, ends_at=a.ends_at, note=a.note) for a in absences
        ],
    )


async def current_absences(rep_ids: Sequence[int], now: datetime) -> list[list[RepAbsence]]:
    """Absences not ended at ``now`` per rep, oldest first: one query for any number of reps."""
    found: dict[int, list[RepAbsence]] = defaultdict(list)
    for row in await RepAbsence.filter(rep_id__in=list(rep_ids), ends_at__gt=now).order_by(
        "starts_at", "id"
    ):
        found[row.rep_id].append(row)  # type: ignore[attr-defined]
    return [found[rep_id] for rep_id in rep_ids]


@dataclass(frozen=True, slots=True)
class Availability:
    calendar: Calendar
    available: bool
    next_available_at: datetime | None
    reason: str | None


def availability(
    working_time: WorkingTime, row: SalesRep, absences: Sequence[RepAbsence], now: datetime
) -> Availability:
    """Whether the rep can take a lead at ``now``, when next, and why not, in their time zone."""
    cal = rep_calendar(working_time, rep_data(row, absences=absences))
    reason = unavailable_reason(cal, now)
    back = now if reason is None else next_available(cal, now)
    return Availability(cal, reason is None, back, reason)


def check_settings(settings: WorkingTimeSettings) -> WorkingTimeSettings:
    """Settings as stored (hours in canonical form), or :class:`InvalidInput` naming the field."""
    try:
        if settings.time_zone is not None:
            zone(settings.time_zone)
        hours = None
        if settings.working_hours is not None:
            hours = parse_hours(settings.working_hours).as_spec()
        check_holidays(settings.holiday_country, settings.holiday_subdivision)
    except WorkTimeError as exc:
        field = {
            "time_zone": "timeZone",
            "holiday_country": "holidayCountry",
            "holiday_subdivision": "holidaySubdivision",
        }.get(exc.what, "workingHours")
        raise InvalidInput(exc.message, field=field, suggestion=exc.hint) from exc
    return WorkingTimeSettings(
        settings.time_zone, hours, settings.holiday_country, settings.holiday_subdivision
    )


async def set_working_time(*, rep_id: int, settings: WorkingTimeSettings, actor: str) -> SalesRep:
    """Replace the rep's own calendar settings (None fields: the territory default)."""
    checked = check_settings(settings)
    async with in_transaction():
        rep = await for_update(SalesRep.filter(id=rep_id)).first()
        if rep is None:
            raise NotFound(f"no sales rep with id {rep_id}", field="repId")
        before = _settings_of(rep)
        rep.time_zone = checked.time_zone
        rep.working_hours = checked.working_hours
        rep.holiday_country = checked.holiday_country
        rep.holiday_subdivision = checked.holiday_subdivision
        await rep.save(
            update_fields=["time_zone", "working_hours", "holiday_country", "holiday_subdivision"]
        )
        await audit.record(
            actor=actor, action="rep.working_time", type_name="SalesRep", pk=rep.id,
            details={"before": before, "after": _settings_of(rep)},
        )  # fmt: skip
    return rep


def _settings_of(rep: SalesRep) -> dict[str, object]:
    return {
        "time_zone": rep.time_zone,
        "working_hours": rep.working_hours,
        "holiday_country": rep.holiday_country,
        "holiday_subdivision": rep.holiday_subdivision,
    }


async def add_absence(
    *,
    rep_id: int,
    starts_at: datetime,
    ends_at: datetime,
    note: str,
    actor: str,
    now: datetime | None = None,
) -> RepAbsence:
    """A new out-of-office period; it may not overlap another of the same rep."""
    now = now or datetime.now(UTC)
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise InvalidInput("give times with a UTC offset", field="startsAt")
    if ends_at <= starts_at:
        raise InvalidInput(
            f"the period ends ({ends_at.isoformat()}) before it starts ({starts_at.isoformat()})",
            field="endsAt",
            suggestion="endsAt must be after startsAt",
        )
    if ends_at <= now:
        raise InvalidInput("the period is over already", field="endsAt")
    if ends_at - starts_at > MAX_ABSENCE:
        raise InvalidInput(
            "an out-of-office period lasts at most 366 days",
            field="endsAt",
            suggestion="deactivate the rep for longer absences",
        )
    if len(note) > 500:
        raise InvalidInput("the note is longer than 500 characters", field="note")
    async with in_transaction():
        rep = await for_update(SalesRep.filter(id=rep_id)).first()  # serialises overlap checks
        if rep is None:
            raise NotFound(f"no sales rep with id {rep_id}", field="repId")
        clash = await RepAbsence.filter(
            rep_id=rep_id, starts_at__lt=ends_at, ends_at__gt=starts_at
        ).first()
        if clash is not None:
            raise Conflict(
                f"{rep.name} is already out of office from {clash.starts_at.isoformat()} "
                f"to {clash.ends_at.isoformat()}",
                field="startsAt",
                suggestion="remove that period first, or choose times that do not overlap it",
            )
        absence = await RepAbsence.create(
            rep_id=rep_id, starts_at=starts_at, ends_at=ends_at, note=note.strip(), set_by=actor
        )
        await audit.record(
            actor=actor, action="rep.absence.add", type_name="SalesRep", pk=rep_id,
            details={"absence": absence.id, "starts_at": starts_at.isoformat(),
                     "ends_at": ends_at.isoformat()},
        )  # fmt: skip
    return absence


async def remove_absence(*, absence_id: int, actor: str) -> RepAbsence:
    """Delete an out-of-office period (returned as it was)."""
    async with in_transaction():
        absence = await for_update(RepAbsence.filter(id=absence_id)).first()
        if absence is None:
            raise NotFound(f"no out-of-office period with id {absence_id}", field="absenceId")
        await absence.delete()
        await audit.record(
            actor=actor, action="rep.absence.remove", type_name="SalesRep",
            pk=absence.rep_id,  # type: ignore[attr-defined]
            details={"absence": absence_id, "starts_at": absence.starts_at.isoformat(),
                     "ends_at": absence.ends_at.isoformat()},
        )  # fmt: skip
    return absence
