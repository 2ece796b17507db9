"""A rep's working calendar: when they can take a lead, and business-clock arithmetic.

Pure (no database). A :class:`Calendar` is a time zone, weekly working hours (several
intervals a day allowed), the public holidays of a country (the ``holidays`` package, cached per
country and year) and out-of-office periods. Working time is counted in real elapsed time inside
the working intervals, so a DST change makes that local day an hour shorter or longer, and a
local time that does not exist (spring forward) is read with the offset before the change.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HORIZON_DAYS = 5 * 366
"""How far ahead the calendar looks for working time before giving up (no working time at all:
an empty week, or out of office for years)."""
_MINUTES_PER_DAY = 24 * 60

Interval = tuple[int, int]
"""Minutes since local midnight, start inclusive, end exclusive (end may be 1440)."""


class WorkTimeError(ValueError):
    """A calendar setting that cannot be used; ``what`` names the setting."""

    def __init__(self, what: str, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.what = what
        self.message = message
        self.hint = hint


@dataclass(frozen=True, slots=True)
class WeeklyHours:
    """Working intervals of each weekday, Monday first."""

    days: tuple[tuple[Interval, ...], ...]
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Hashed on every cached day lookup (the hot path): compute it once.
        object.__setattr__(self, "_hash", hash(self.days))

    def __hash__(self) -> int:
        return self._hash

    def as_spec(self) -> dict[str, list[str]]:
        """The canonical written form: ``{"mon": ["09:00-17:00"], …}`` (days off left out)."""
        return {
            DAYS[i]: [f"{_hhmm(s)}-{_hhmm(e)}" for s, e in spans]
            for i, spans in enumerate(self.days)
            if spans
        }

    @property
    def minutes_per_week(self) -> int:
        return sum(e - s for spans in self.days for s, e in spans)


ALWAYS = WeeklyHours(tuple(((0, _MINUTES_PER_DAY),) for _ in DAYS))
"""Every hour of every day: the calendar of a rep nobody gave working hours."""


@dataclass(frozen=True, slots=True)
class Absence:
    """An out-of-office period, ``[starts_at, ends_at)``."""

    starts_at: datetime
    ends_at: datetime
    note: str = ""


@dataclass(frozen=True, slots=True)
class Calendar:
    time_zone: str = "UTC"
    hours: WeeklyHours = ALWAYS
    holiday_country: str | None = None
    holiday_subdivision: str | None = None
    absences: tuple[Absence, ...] = ()

    @property
    def tz(self) -> ZoneInfo:
        return zone(self.time_zone)


ALWAYS_AVAILABLE = Calendar()


# --- settings: parse and check ---------------------------------------------------------------


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``; :class:`WorkTimeError` when unknown."""
    try:
        return _zone(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise WorkTimeError(
            "time_zone", f"unknown time zone `{name}`", "use an IANA name such as Europe/Berlin"
        ) from exc


@lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo:
    if not name or name != name.strip():
        raise ValueError(name)
    return ZoneInfo(name)


def check_holidays(country: str | None, subdivision: str | None) -> None:
    """Raise :class:`WorkTimeError` unless the ``holidays`` package knows the country (and
    subdivision)."""
    if country is None:
        if subdivision is not None:
            raise WorkTimeError("holiday_subdivision", "a holiday subdivision needs a country")
        return
    supported = holidays.list_supported_countries()
    if country not in supported:
        raise WorkTimeError(
            "holiday_country",
            f"unknown holiday country `{country}`",
            "use an ISO 3166 alpha-2 code the `holidays` package supports, e.g. US, DE, GB",
        )
    if subdivision is not None and subdivision not in supported[country]:
        shown = ", ".join(supported[country][:8])
        raise WorkTimeError(
            "holiday_subdivision",
            f"unknown subdivision `{subdivision}` of {country}",
            f"valid: {shown}{', …' if len(supported[country]) > 8 else ''}",
        )


def parse_hours(spec: Mapping[str, str | Sequence[str]]) -> WeeklyHours:
    """``{"mon-fri": "09:00-17:00", "sat": ["10:00-12:00"]}`` → :class:`WeeklyHours`.

    Keys are a day (``mon``…``sun``) or a range (``mon-fri``); values one ``HH:MM-HH:MM`` or a
    list of them. A day written twice, overlapping intervals or a week without any working time
    are errors (``what`` is the key).
    """
    days: list[list[Interval]] = [[] for _ in DAYS]
    seen: set[int] = set()
    for key, value in spec.items():
        indexes = _day_keys(str(key))
        if seen & set(indexes):
            raise WorkTimeError(str(key), f"day `{DAYS[min(seen & set(indexes))]}` given twice")
        seen |= set(indexes)
        texts = [value] if isinstance(value, str) else list(value)
        spans = sorted(_interval(str(key), str(t)) for t in texts)
        for (_, end), (start, _) in pairwise(spans):
            if start < end:
                raise WorkTimeError(str(key), f"intervals of `{key}` overlap")
        for i in indexes:
            days[i] = spans
    week = WeeklyHours(tuple(tuple(d) for d in days))
    if week.minutes_per_week == 0:
        raise WorkTimeError("hours", "no working time in the week", 'e.g. {mon-fri: "09:00-17:00"}')
    return week


def _day_keys(key: str) -> list[int]:
    parts = key.strip().lower().split("-")
    if len(parts) > 2 or any(p not in DAYS for p in parts):
        raise WorkTimeError(key, f"unknown day `{key}`", "use mon…sun or a range like mon-fri")
    first, last = DAYS.index(parts[0]), DAYS.index(parts[-1])
    if last < first:
        raise WorkTimeError(key, f"day range `{key}` runs backwards", "write it Monday first")
    return list(range(first, last + 1))


def _interval(key: str, text: str) -> Interval:
    try:
        start_text, end_text = text.split("-")
        start, end = _minutes(start_text), _minutes(end_text)
    except ValueError:
        raise WorkTimeError(
            key,
            f"invalid working hours `{text}` for `{key}`",
            "write HH:MM-HH:MM, e.g. 09:00-17:00",
        ) from None
    if end <= start:
        raise WorkTimeError(
            key, f"working hours `{text}` end before they start", "use 00:00-24:00 for all day"
        )
    return (start, end)


def _minutes(text: str) -> int:
    hh, mm = text.strip().split(":")
    if len(hh) != 2 or len(mm) != 2 or not (hh + mm).isdigit():
        raise ValueError(text)
    minutes = int(hh) * 60 + int(mm)
    if int(mm) > 59 or minutes > _MINUTES_PER_DAY:
        raise ValueError(text)
    return minutes


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


# --- holidays --------------------------------------------------------------------------------


@lru_cache(maxsize=1024)
def _holidays(country: str, subdivision: str | None, year: int) -> Mapping[date, str]:
    """The public holidays of one country (and subdivision) and year, built once per process."""
    found = holidays.country_holidays(country, subdiv=subdivision, years=year)
    return dict(found.items())


def holiday(cal: Calendar, day: date) -> str | None:
    """The name of the public holiday on local ``day`` (None on a normal day)."""
    if cal.holiday_country is None:
        return None
    return _holidays(cal.holiday_country, cal.holiday_subdivision, day.year).get(day)


# --- arithmetic ------------------------------------------------------------------------------


def _local(day: date, minutes: int, tz: ZoneInfo) -> datetime:
    if minutes >= _MINUTES_PER_DAY:
        return datetime.combine(day + timedelta(days=1), time(), tz)
    return datetime.combine(day, time(minutes // 60, minutes % 60), tz)


def _day_spans(cal: Calendar, day: date, tz: ZoneInfo) -> tuple[tuple[datetime, datetime], ...]:
    """Working intervals of local ``day`` in UTC (none on a public holiday)."""
    return _spans(cal.hours, cal.time_zone, cal.holiday_country, cal.holiday_subdivision, day)


@lru_cache(maxsize=65536)
def _spans(
    hours: WeeklyHours, tz_name: str, country: str | None, subdivision: str | None, day: date
) -> tuple[tuple[datetime, datetime], ...]:
    """Cached: the evaluation hot path asks the same few days of the same few calendars."""
    spans = hours.days[day.weekday()]
    if not spans or (country is not None and day in _holidays(country, subdivision, day.year)):
        return ()
    tz = zone(tz_name)
    out = []
    for s, e in spans:
        start = _local(day, s, tz).astimezone(UTC)
        end = _local(day, e, tz).astimezone(UTC)
        if end > start:  # an interval inside a DST gap is empty
            out.append((start, end))
    return tuple(out)


def intervals(cal: Calendar, start: datetime) -> Iterator[tuple[datetime, datetime]]:
    """Available intervals from ``start`` on, in order, in UTC: working hours minus holidays
    and out-of-office periods, clipped to ``start``. Ends after :data:`HORIZON_DAYS`."""
    tz = cal.tz
    start = start.astimezone(UTC)
    absences = sorted(
        (a.starts_at.astimezone(UTC), a.ends_at.astimezone(UTC))
        for a in cal.absences
        if a.ends_at > start
    )
    day = start.astimezone(tz).date()
    for _ in range(HORIZON_DAYS):
        for a, b in _day_spans(cal, day, tz):
            if b <= start:
                continue
            yield from _minus(max(a, start), b, absences)
        day += timedelta(days=1)


def _minus(
    a: datetime, b: datetime, absences: list[tuple[datetime, datetime]]
) -> Iterator[tuple[datetime, datetime]]:
    for off_start, off_end in absences:
        if off_end <= a:
            continue
        if off_start >= b:
            break
        if off_start > a:
            yield (a, off_start)
        a = max(a, off_end)
        if a >= b:
            return
    if a < b:
        yield (a, b)


def absence_at(cal: Calendar, at: datetime) -> Absence | None:
    return next((x for x in cal.absences if x.starts_at <= at < x.ends_at), None)


def in_hours(cal: Calendar, at: datetime) -> bool:
    """Inside working hours and not a public holiday (out-of-office not considered)."""
    tz = cal.tz
    return any(a <= at < b for a, b in _day_spans(cal, at.astimezone(tz).date(), tz))


def available(cal: Calendar, at: datetime) -> bool:
    """Can the rep take a lead at ``at``: working hours, no holiday, not out of office."""
    return absence_at(cal, at) is None and in_hours(cal, at)


def next_available(cal: Calendar, at: datetime) -> datetime | None:
    """``at`` itself when available, else the first instant after it (None: not for years)."""
    first = next(intervals(cal, at), None)
    return first[0] if first else None


def add_working_time(cal: Calendar, start: datetime, hours: float) -> datetime | None:
    """The instant when ``hours`` of working time have passed since ``start`` (the business
    clock). Ends inside or at the end of a working interval. None when beyond the horizon."""
    remaining = timedelta(hours=hours)
    for a, b in intervals(cal, start):
        if b - a >= remaining:
            return a + remaining
        remaining -= b - a
    return None


def working_time_between(cal: Calendar, start: datetime, end: datetime) -> timedelta:
    """Available time inside ``[start, end)`` (e.g. to weigh a rep's share by presence)."""
    total = timedelta()
    for a, b in intervals(cal, start):
        if a >= end:
            break
        total += min(b, end) - a
    return total


def unavailable_reason(cal: Calendar, at: datetime) -> str | None:
    """Why the rep cannot take a lead at ``at``, and until when, in their time zone (None when
    available): "out of office until Mon 7 Dec 09:00 CET", "outside working hours until 09:00
    EST", "public holiday (Christmas Day) until Mon 28 Dec 09:00 GMT"."""
    return status(cal, at)[0]


def status(cal: Calendar, at: datetime) -> tuple[str | None, datetime | None]:
    """``(None, at)`` when available, else (the reason in words, when next available)."""
    absence = absence_at(cal, at)
    if absence is None and in_hours(cal, at):
        return None, at
    tz = cal.tz
    local = at.astimezone(tz)
    if absence is not None:
        what = "out of office"
    elif (name := holiday(cal, local.date())) is not None and cal.hours.days[local.weekday()]:
        what = f"public holiday ({name})"
    else:
        what = "outside working hours"
    back = next_available(cal, at)
    if back is None:
        return f"{what} for the foreseeable future", None
    return f"{what} until {when(back, tz, local)}", back


def when(at: datetime, tz: ZoneInfo, today: datetime | None = None) -> str:
    """``09:00 EST`` on the same local day as ``today``, else ``Mon 7 Dec 09:00 CET``."""
    local = at.astimezone(tz)
    clock = f"{local:%H:%M} {local.tzname()}"
    if today is not None and today.astimezone(tz).date() == local.date():
        return clock
    return f"{local:%a} {local.day} {local:%b} {clock}"
