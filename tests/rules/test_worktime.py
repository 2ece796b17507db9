"""Working calendars: availability, next available, the business clock, reasons in words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.worktime import (
    Absence,
    Calendar,
    WorkTimeError,
    add_working_time,
    available,
    check_holidays,
    next_available,
    parse_hours,
    unavailable_reason,
    working_time_between,
    zone,
)

WEEKDAYS = parse_hours({"mon-fri": "09:00-17:00"})
NEW_YORK = Calendar("America/New_York", WEEKDAYS, "US")
BERLIN = Calendar("Europe/Berlin", parse_hours({"mon-fri": ["09:00-12:00", "13:00-17:00"]}), "DE")


def utc(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_hours_are_parsed_from_days_ranges_and_lists() -> None:
    week = parse_hours({"mon-thu": "09:00-17:30", "fri": ["08:00-12:00", "13:00-15:00"]})
    assert week.as_spec() == {
        "mon": ["09:00-17:30"],
        "tue": ["09:00-17:30"],
        "wed": ["09:00-17:30"],
        "thu": ["09:00-17:30"],
        "fri": ["08:00-12:00", "13:00-15:00"],
    }
    assert parse_hours({"sun": "00:00-24:00"}).minutes_per_week == 24 * 60


@pytest.mark.parametrize(
    ("spec", "what", "message"),
    [
        ({"mon": "9-17"}, "mon", "invalid working hours `9-17`"),
        ({"mon": "17:00-09:00"}, "mon", "end before they start"),
        ({"mon": ["09:00-12:00", "11:00-13:00"]}, "mon", "overlap"),
        ({"monday": "09:00-17:00"}, "monday", "unknown day"),
        ({"fri-mon": "09:00-17:00"}, "fri-mon", "runs backwards"),
        ({"mon-fri": "09:00-17:00", "wed": "10:00-11:00"}, "wed", "day `wed` given twice"),
        ({"mon": []}, "hours", "no working time"),
        ({"mon": "09:00-24:01"}, "mon", "invalid working hours"),
    ],
)
def test_bad_hours_name_the_key(spec: dict[str, object], what: str, message: str) -> None:
    with pytest.raises(WorkTimeError) as caught:
        parse_hours(spec)  # type: ignore[arg-type]
    assert caught.value.what == what
    assert message in caught.value.message


def test_time_zones_and_holiday_countries_are_checked() -> None:
    assert zone("Europe/Berlin").key == "Europe/Berlin"
    with pytest.raises(WorkTimeError, match="unknown time zone `Mars/Olympus`"):
        zone("Mars/Olympus")
    with pytest.raises(WorkTimeError, match="unknown time zone"):
        zone("../etc/passwd")
    check_holidays("DE", "BY")
    with pytest.raises(WorkTimeError, match="unknown holiday country `XX`"):
        check_holidays("XX", None)
    with pytest.raises(WorkTimeError, match="unknown subdivision `ZZ` of US"):
        check_holidays("US", "ZZ")
    with pytest.raises(WorkTimeError, match="needs a country"):
        check_holidays(None, "BY")


def test_availability_follows_local_hours_weekends_and_holidays() -> None:
    assert available(NEW_YORK, utc(2026, 12, 1, 14, 0))  # Tue 09:00 EST
    assert not available(NEW_YORK, utc(2026, 12, 1, 13, 59))
    assert not available(NEW_YORK, utc(2026, 12, 1, 22, 0))  # 17:00 EST: the end is exclusive
    assert not available(NEW_YORK, utc(2026, 12, 5, 15, 0))  # Saturday
    assert not available(NEW_YORK, utc(2026, 12, 25, 15, 0))  # Christmas Day
    assert not available(BERLIN, utc(2026, 12, 1, 11, 30))  # lunch, 12:30 CET
    assert available(BERLIN, utc(2026, 12, 1, 12, 0))


def test_reasons_say_why_and_until_when_in_the_reps_time_zone() -> None:
    assert unavailable_reason(NEW_YORK, utc(2026, 12, 1, 15, 0)) is None
    assert (
        unavailable_reason(NEW_YORK, utc(2026, 12, 1, 12, 0))
        == "outside working hours until 09:00 EST"
    )
    assert (
        unavailable_reason(NEW_YORK, utc(2026, 12, 25, 15, 0))
        == "public holiday (Christmas Day) until Mon 28 Dec 09:00 EST"
    )
    away = Calendar(
        "Europe/Berlin",
        BERLIN.hours,
        "DE",
        absences=(Absence(utc(2026, 11, 30, 0, 0), utc(2026, 12, 5, 0, 0), "trip"),),
    )
    assert (
        unavailable_reason(away, utc(2026, 12, 2, 10, 0))
        == "out of office until Mon 7 Dec 09:00 CET"
    )


def test_next_available_skips_weekend_holiday_and_absence() -> None:
    assert next_available(NEW_YORK, utc(2026, 12, 1, 15, 0)) == utc(2026, 12, 1, 15, 0)
    assert next_available(NEW_YORK, utc(2026, 12, 24, 23, 0)) == utc(2026, 12, 28, 14, 0)
    away = Calendar(
        "America/New_York",
        WEEKDAYS,
        "US",
        absences=(Absence(utc(2026, 12, 28, 0, 0), utc(2026, 12, 29, 16, 0)),),
    )
    # Back mid-morning on Tuesday: available from the end of the absence, not the next day.
    assert next_available(away, utc(2026, 12, 24, 23, 0)) == utc(2026, 12, 29, 16, 0)
    never = Calendar(absences=(Absence(utc(2026, 1, 1, 0, 0), utc(2040, 1, 1, 0, 0)),))
    assert next_available(never, utc(2026, 6, 1, 0, 0)) is None
    assert unavailable_reason(never, utc(2026, 6, 1, 0, 0)) == (
        "out of office for the foreseeable future"
    )


def test_business_clock_across_a_weekend_and_a_holiday_in_two_time_zones() -> None:
    # Thu 24 Dec 2026, 20:00 UTC: 15:00 in New York, 21:00 in Berlin.
    start = utc(2026, 12, 24, 20, 0)
    # New York: 2 h on Thursday, Friday is Christmas, weekend, 2 h on Monday → 11:00 EST.
    assert add_working_time(NEW_YORK, start, 4) == utc(2026, 12, 28, 16, 0)
    # Berlin: closed; 25 and 26 Dec are holidays, weekend; Mon 09-12 then 13-14 → 14:00 CET.
    assert add_working_time(BERLIN, start, 4) == utc(2026, 12, 28, 13, 0)


def test_business_clock_across_dst_changes() -> None:
    # US clocks spring forward on Sun 8 Mar 2026: Friday is EST (UTC-5), Monday EDT (UTC-4).
    assert add_working_time(NEW_YORK, utc(2026, 3, 6, 20, 0), 4) == utc(2026, 3, 9, 15, 0)
    # Europe falls back on Sun 25 Oct 2026: Friday is CEST (UTC+2), Monday CET (UTC+1).
    assert add_working_time(BERLIN, utc(2026, 10, 23, 14, 0), 3) == utc(2026, 10, 26, 10, 0)
    # A night shift across the change counts real hours: 00:00-06:00 local is 7 h that night.
    night = Calendar("Europe/Berlin", parse_hours({"sun": "00:00-06:00"}))
    sunday = utc(2026, 10, 24, 22, 0)  # Sun 25 Oct 00:00 CEST
    assert working_time_between(night, sunday, sunday + timedelta(days=1)) == timedelta(hours=7)


def test_working_time_between_counts_only_available_time() -> None:
    monday = utc(2026, 11, 30, 0, 0)
    assert working_time_between(NEW_YORK, monday, monday + timedelta(days=7)) == timedelta(hours=40)
    away = Calendar(
        "America/New_York", WEEKDAYS, "US", absences=(Absence(monday, monday + timedelta(days=2)),)
    )
    assert working_time_between(away, monday, monday + timedelta(days=7)) == timedelta(hours=24)


CALENDARS = st.sampled_from([NEW_YORK, BERLIN, Calendar("Asia/Tokyo", WEEKDAYS, "JP")])
INSTANTS = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)
)
HOURS = st.floats(min_value=0.01, max_value=200, allow_nan=False)


@settings(max_examples=150, deadline=None)
@given(cal=CALENDARS, start=INSTANTS, hours=HOURS)
def test_adding_working_time_ends_inside_working_hours(
    cal: Calendar, start: datetime, hours: float
) -> None:
    end = add_working_time(cal, start, hours)
    assert end is not None
    assert end > start
    # The deadline closes a stretch of working time: just before it, the rep is at work.
    assert available(cal, end - timedelta(microseconds=1))
    assert abs(working_time_between(cal, start, end) - timedelta(hours=hours)) < timedelta(
        microseconds=2
    )


@settings(max_examples=150, deadline=None)
@given(cal=CALENDARS, start=INSTANTS, first=HOURS, second=HOURS)
def test_splitting_a_duration_adds_up(
    cal: Calendar, start: datetime, first: float, second: float
) -> None:
    middle = add_working_time(cal, start, first)
    assert middle is not None
    whole = add_working_time(cal, start, first + second)
    split = add_working_time(cal, middle, second)
    assert whole is not None
    assert split is not None
    assert abs(whole - split) < timedelta(microseconds=2)


@settings(max_examples=150, deadline=None)
@given(cal=CALENDARS, at=INSTANTS)
def test_next_available_is_available_and_nothing_before_it_is(cal: Calendar, at: datetime) -> None:
    back = next_available(cal, at)
    assert back is not None
    assert back >= at
    assert available(cal, back)
    assert working_time_between(cal, at, back) == timedelta()
    assert (unavailable_reason(cal, at) is None) == (back == at)
