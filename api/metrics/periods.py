"""Periods and grouping: calendar buckets (UTC, weeks from Monday), the groups a metric can be
split by, and the window one query covers."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum

from api.enums import PeriodKind
from api.errors import InvalidInput

FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(9998, 12, 31)
MAX_POINTS = 750  # two years of days: beyond that a chart is unreadable anyway


class GroupBy(StrEnum):
    CAMPAIGN = "campaign"
    SOURCE = "source"
    SEGMENT = "segment"
    OWNER = "owner"


NO_GROUP = "(none)"  # the group of rows without a campaign, source, segment or owner


def period_start(day: date, kind: PeriodKind) -> date:
    """The first day of the period containing ``day`` (weeks start on Monday, as ISO and
    PostgreSQL's date_trunc do)."""
    if kind == PeriodKind.DAY:
        return day
    if kind == PeriodKind.WEEK:
        return day - timedelta(days=day.weekday())
    if kind == PeriodKind.MONTH:
        return day.replace(day=1)
    return date(day.year, (day.month - 1) // 3 * 3 + 1, 1)


def next_period(start: date, kind: PeriodKind) -> date:
    if kind == PeriodKind.DAY:
        return start + timedelta(days=1)
    if kind == PeriodKind.WEEK:
        return start + timedelta(days=7)
    months = 1 if kind == PeriodKind.MONTH else 3
    month = start.month - 1 + months
    return date(start.year + month // 12, month % 12 + 1, 1)


def periods(start: date, end: date, kind: PeriodKind) -> list[date]:
    """Starts of the whole periods covering ``start..end`` (both inclusive)."""
    if start > end:
        raise InvalidInput(
            f"from ({start}) is after to ({end})", field="from", suggestion="swap the dates"
        )
    for name, day in (("from", start), ("to", end)):
        if not FIRST_DAY <= day <= LAST_DAY:
            raise InvalidInput(
                f"{name} ({day}) is outside {FIRST_DAY}..{LAST_DAY}",
                field=name,
                suggestion="metrics cover calendar periods whose end can be represented",
            )
    out: list[date] = []
    current = period_start(start, kind)
    while current <= end:
        out.append(current)
        if len(out) > MAX_POINTS:
            raise InvalidInput(
                f"more than {MAX_POINTS} {kind} periods between {start} and {end}",
                field="period",
                suggestion="choose a longer period or a shorter range",
            )
        current = next_period(current, kind)
    return out


def utc(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def elapsed_fraction(start: date, kind: PeriodKind, now: datetime) -> float:
    """How much of the period has passed at ``now`` (0 before it, 1 after it)."""
    begin, end = utc(start), utc(next_period(start, kind))
    if now <= begin:
        return 0.0
    if now >= end:
        return 1.0
    return (now - begin) / (end - begin)


def months_in(start: date, kind: PeriodKind) -> Decimal:
    """A period's length in months, to turn the monthly sales cost into a period's cost."""
    if kind == PeriodKind.MONTH:
        return Decimal(1)
    if kind == PeriodKind.QUARTER:
        return Decimal(3)
    days = Decimal(7 if kind == PeriodKind.WEEK else 1)
    return days * 12 / (365 + calendar.isleap(start.year))


@dataclass(frozen=True, slots=True)
class Window:
    """The query's time range and grouping."""

    kind: PeriodKind
    starts: list[date]
    group_by: GroupBy | None
    now: datetime
    until: datetime | None = None  # goals count "so far": nothing after this instant

    @property
    def begin(self) -> datetime:
        return utc(self.starts[0])

    @property
    def end(self) -> datetime:
        return self.cap(utc(next_period(self.starts[-1], self.kind)))

    def cap(self, end: datetime) -> datetime:
        return min(end, self.until) if self.until is not None else end
