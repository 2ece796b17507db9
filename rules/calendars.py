"""Which calendar applies to a rep: their own settings over their territory's default.

RevOps set a default calendar per territory in the rulebook (``working_time``); a rep's own
time zone, weekly hours and holiday country (stored with the rep, carried in
:class:`~rules.models.RepData`) override it field by field. Out-of-office periods always come
from the rep. Resolution is cached: the evaluation hot path sees the same reps again and again.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from functools import lru_cache

from rules.models import RepData
from rules.rulebook import WorkingCalendar, WorkingTime
from rules.worktime import (
    Absence,
    Calendar,
    WeeklyHours,
    WorkTimeError,
    parse_hours,
    unavailable_reason,
    zone,
)

HoursKey = tuple[tuple[str, tuple[str, ...]], ...]


def rep_calendar(working_time: WorkingTime, rep: RepData) -> Calendar:
    """The rep's calendar: own settings, else the territory default, plus their absences."""
    base = working_time.for_territory(rep.territory)
    hours_key = (
        tuple((k, tuple(v)) for k, v in rep.working_hours.items()) if rep.working_hours else None
    )
    absences = tuple(
        (a.starts_at, a.ends_at, a.note)
        for a in sorted(rep.out_of_office, key=lambda a: a.starts_at)
    )
    return _calendar(
        base,
        rep.time_zone,
        hours_key,
        rep.holiday_country,
        rep.holiday_subdivision,
        absences,
    )


@lru_cache(maxsize=4096)
def _calendar(
    base: WorkingCalendar,
    time_zone: str | None,
    hours_key: HoursKey | None,
    country: str | None,
    subdivision: str | None,
    absences: tuple[tuple[datetime, datetime, str], ...],
) -> Calendar:
    tz = base.time_zone
    if time_zone is not None and _valid_zone(time_zone):
        tz = time_zone
    hours = _hours(hours_key) if hours_key else None
    if country is None:
        country, subdivision = base.holiday_country, base.holiday_subdivision
    return Calendar(
        time_zone=tz,
        hours=hours or base.hours,
        holiday_country=country,
        holiday_subdivision=subdivision,
        absences=tuple(Absence(s, e, n) for s, e, n in absences),
    )


def _valid_zone(name: str) -> bool:
    try:
        zone(name)
    except WorkTimeError:
        return False  # checked when set; a zone dropped from tzdata later falls back
    return True


@lru_cache(maxsize=1024)
def _hours(key: HoursKey) -> WeeklyHours | None:
    try:
        return parse_hours({k: list(v) for k, v in key})
    except WorkTimeError:
        return None  # checked when set; never let a stored value break an evaluation


def skipped(
    working_time: WorkingTime, reps: Iterable[RepData], at: datetime
) -> list[tuple[RepData, Calendar, str]]:
    """The reps not available at ``at``, each with its calendar and the reason in words."""
    out = []
    for rep in reps:
        cal = rep_calendar(working_time, rep)
        reason = unavailable_reason(cal, at)
        if reason is not None:
            out.append((rep, cal, reason))
    return out
