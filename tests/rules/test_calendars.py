"""Calendars in the rulebook and in routing: the ``working_time`` section (located errors),
territory defaults under reps' own settings, routing over available reps only (``when_unavailable``
queueing with a bound) and SLA priorities on the business clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rules import Evaluator, RepData, Rulebook, RulebookInvalid, load_rulebook_files
from rules.calendars import rep_calendar
from tests.rules.conftest import lead_input

BASE = """
stages: {order: [new, mql], initial: new, handoff: mql}
qualification:
  - {name: to_mql, to: mql, from: [new]}
routing:
  territories: [NA, EMEA]
  segments: [smb]
  routes:
    - name: route_na
      pool: {territory: NA}
      when: {field: lead.country, eq: US}
      when_unavailable: {queue: true, max_wait: {hours: 16}}
    - name: route_emea
      pool: {territory: EMEA}
sla:
  priorities: {p1: 4, p2: {hours: 8, clock: business}}
  default: p2
working_time:
  default: {time_zone: UTC, hours: {mon-sun: "00:00-24:00"}}
  territories:
    NA: {time_zone: America/New_York, hours: {mon-fri: "09:00-17:00"}, holiday_country: US}
    EMEA:
      time_zone: Europe/Berlin
      hours: {mon-fri: ["09:00-12:00", "13:00-17:00"]}
      holiday_country: DE
      holiday_subdivision: BE
"""


def book(text: str = BASE) -> Rulebook:
    return load_rulebook_files({"book.yaml": text})


def errors(text: str) -> list[str]:
    with pytest.raises(RulebookInvalid) as caught:
        book(text)
    return [f"{e.line}:{e.column} {e.message}" + (f" ({e.suggestion})" if e.suggestion else "")
            for e in caught.value.errors]  # fmt: skip


def reps(**extra: dict[str, Any]) -> list[dict[str, Any]]:
    base = {
        "ana": {"rep_id": "ana", "name": "Ana", "territory": "NA", "capacity": 5},
        "ben": {"rep_id": "ben", "name": "Ben", "territory": "NA", "capacity": 5},
        "eva": {"rep_id": "eva", "name": "Eva", "territory": "EMEA", "capacity": 5},
    }
    return [{**rep, **extra.get(name, {})} for name, rep in base.items()]


def evaluate(now: datetime, country: str = "US", **extra: dict[str, Any]) -> Any:
    with Evaluator(book()) as ev:
        return ev.evaluate(
            lead_input(lead={"country": country}, reps=reps(**extra)).model_copy(
                update={"now": now}
            )
        )


def test_the_section_is_read_with_defaults_and_clocks() -> None:
    loaded = book()
    assert loaded.sla.clock("p1") == "wall"
    assert loaded.sla.clock("p2") == "business"
    assert loaded.routing.routes[0].queue_max_wait_hours == 16
    assert loaded.routing.routes[1].queue_max_wait_hours is None
    na = loaded.working_time.for_territory("NA")
    assert (na.time_zone, na.holiday_country) == ("America/New_York", "US")
    assert loaded.working_time.for_territory("APAC").time_zone == "UTC"  # the default


def test_a_reps_own_settings_override_the_territory_default() -> None:
    wt = book().working_time
    rep = RepData(rep_id="x", territory="EMEA", capacity=1)
    assert rep_calendar(wt, rep).holiday_subdivision == "BE"
    own = rep.model_copy(
        update={"time_zone": "Europe/Lisbon", "working_hours": {"sat": ["10:00-12:00"]}}
    )
    cal = rep_calendar(wt, own)
    assert (cal.time_zone, cal.holiday_country) == ("Europe/Lisbon", "DE")
    assert cal.hours.as_spec() == {"sat": ["10:00-12:00"]}


NY_HOURS = 'mon-fri: "09:00-17:00"}, holiday_country: US'
QUEUE = "when_unavailable: {queue: true, max_wait: {hours: 16}}"
LOCATED = [
    ("America/New_York", "America/New_Yrok",
     "21:21 unknown time zone `America/New_Yrok` (NA) "
     "(use an IANA name such as Europe/Berlin)"),
    (NY_HOURS, NY_HOURS.replace("mon-fri", "mon-fry"),
     "21:47 unknown day `mon-fry` (NA) (use mon…sun or a range like mon-fri)"),
    ("holiday_country: US", "holiday_country: XX",
     "21:89 unknown holiday country `XX` (NA) "
     "(use an ISO 3166 alpha-2 code the `holidays` package supports, e.g. US, DE, GB)"),
    ("holiday_subdivision: BE", "holiday_subdivision: QQ",
     "26:28 unknown subdivision `QQ` of DE (EMEA) (valid: BB, BE, BW"),
    ("    EMEA:\n", "    APAC:\n",
     "22:5 working time for undeclared territory `APAC` (valid territories: NA, EMEA)"),
    (QUEUE, "when_unavailable: {queue: true}",
     "12:7 `queue: true` needs a bound (add `max_wait: {hours: 16}`)"),
    ("clock: business}", "clock: bussiness}",
     "16:45 invalid value 'bussiness' in `sla.priorities.p2.clock` (did you mean `business`?)"),
]  # fmt: skip


@pytest.mark.parametrize(("old", "new", "expected"), LOCATED)
def test_errors_are_located(old: str, new: str, expected: str) -> None:
    assert old in BASE
    found = errors(BASE.replace(old, new, 1))
    assert any(e.startswith(expected) for e in found), found


def test_only_available_reps_are_in_the_pool_and_skipped_ones_are_named() -> None:
    monday = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)  # 10:00 in New York
    away = {"out_of_office": [{"starts_at": monday - timedelta(days=3),
                               "ends_at": datetime(2026, 12, 9, 14, 0, tzinfo=UTC)}]}  # fmt: skip
    result = evaluate(monday, ana=away)
    assert result.routing.rep_id == "ben"
    assert result.routing.why.endswith("; unavailable: Ana out of office until Wed 9 Dec 09:00 EST")


def test_a_queue_picks_the_rep_back_soonest_and_starts_the_clock_then() -> None:
    night = datetime(2026, 12, 8, 4, 0, tzinfo=UTC)  # Tuesday 23:00 in New York
    later = {"time_zone": "America/Chicago"}  # back at 09:00 CST, an hour after Ben
    result = evaluate(night, ana=later)
    assert result.routing.rep_id == "ben"
    assert result.sla is not None
    assert result.sla.starts_at == datetime(2026, 12, 8, 14, 0, tzinfo=UTC)
    assert result.sla.deadline == datetime(2026, 12, 8, 22, 0, tzinfo=UTC)  # 8 h to 17:00 EST


def test_beyond_the_bound_the_route_is_skipped() -> None:
    friday_night = datetime(2026, 12, 12, 0, 0, tzinfo=UTC)  # Fri 19:00 EST: back Monday
    result = evaluate(friday_night)
    assert result.routing.rep_id is None  # and Eva's route: Saturday 01:00 in Berlin
    assert "Ana outside working hours until Mon 14 Dec 09:00 EST" in result.routing.why
    assert "Eva outside working hours until Mon 14 Dec 09:00 CET" in result.routing.why
    assert result.sla is not None
    assert result.sla.clock == "wall"  # no owner: no working time to count in


def test_the_business_clock_counts_the_owners_time_and_the_wall_clock_does_not() -> None:
    thursday = datetime(2026, 12, 24, 20, 0, tzinfo=UTC)  # 15:00 in New York, Christmas Eve
    result = evaluate(thursday)
    assert result.sla is not None
    # 2 h on Thursday, Christmas Day, the weekend, 6 h on Monday: 15:00 EST.
    assert (result.sla.clock, result.sla.deadline) == (
        "business",
        datetime(2026, 12, 28, 20, 0, tzinfo=UTC),
    )


def test_reps_without_calendar_fields_still_load() -> None:
    """Inputs stored before issue 16 have reps without calendars: still valid."""
    rep = RepData.model_validate({"rep_id": "1", "territory": "NA", "capacity": 3})
    assert rep.out_of_office == []
    assert rep.time_zone is None
