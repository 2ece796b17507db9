"""Working time through GraphQL (issue 16): reps' calendars and out-of-office periods, routing
that skips unavailable reps with the reason, SLA deadlines on the business clock (injected time),
and who may set out-of-office periods."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.applications import Starlette
from strawberry.relay import GlobalID, to_base64

from api.engine import RulesEngine
from api.enums import EvaluationTrigger, LifecycleStage, Role
from api.live import LiveEngine
from api.models import Account, Activity, Handoff, Lead, RepAbsence, SalesRep
from api.qualification import evaluate_lead
from api.settings import DEMO_RULES_DIR
from rules import load_rulebook
from tests.conftest import GqlFactory, GraphQLClient

CREATE_REP = """
mutation($input: CreateRepInput!) {
  createRep(input: $input) { rep { id } userErrors { code message } }
}
"""
SET_TIME = """
mutation($input: SetRepWorkingTimeInput!) {
  setRepWorkingTime(input: $input) {
    rep { timeZone holidayCountry ownWorkingTime workingHours { day intervals } }
    userErrors { code message field suggestion }
  }
}"""
AWAY = """
mutation($input: AddRepAbsenceInput!) {
  addRepAbsence(input: $input) {
    absence { id startsAt endsAt note setBy rep { email } }
    userErrors { code message field }
  }
}"""
BACK = """
mutation($input: RemoveRepAbsenceInput!) {
  removeRepAbsence(input: $input) { absence { id } userErrors { code message field } }
}"""
REP = """
query($id: ID!, $after: DateTime, $at: DateTime) {
  node(id: $id) {
    ... on SalesRep {
      availableNow nextAvailableAt(after: $after) unavailableReason(at: $at)
      outOfOffice { totalCount edges { node { note } } }
    }
  }
}"""
LATEST = """
query($id: ID!) {
  node(id: $id) {
    ... on Lead {
      owner { email }
      latestEvaluation {
        report {
          routing { route why }
          sla { priority hours clock deadline startsAt }
          gap { whyDeadline }
        }
      }
    }
  }
}"""
NEW_YORK = {"timeZone": "America/New_York", "holidayCountry": "US"}
BERLIN = {"timeZone": "Europe/Berlin", "holidayCountry": "DE"}
WEEKDAYS = [{"days": "mon-fri", "intervals": ["09:00-17:00"]}]


async def rep(
    gql: GraphQLClient, name: str, territory: str, calendar: dict[str, Any] | None = None
) -> str:
    created = await gql(
        CREATE_REP,
        input={
            "email": f"{name.lower()}@acme-sales.com",
            "name": name,
            "territory": territory,
            "segments": ["mid_market"],
            "capacity": 10,
        },
    )
    assert created["data"]["createRep"]["rep"], created
    rep_id: str = created["data"]["createRep"]["rep"]["id"]
    if calendar is not None:
        done = await gql(SET_TIME, input={"repId": rep_id, "workingHours": WEEKDAYS, **calendar})
        assert done["data"]["setRepWorkingTime"]["userErrors"] == []
    return rep_id


async def trial_lead(country: str, now: datetime) -> Lead:
    """A director at a 600-person fintech with a trial yesterday: an MQL with priority p2."""
    account = await Account.create(
        domain=f"fab-{country.lower()}.com", employee_count=600, industry="fintech"
    )
    lead = await Lead.create(
        email=f"dana@fab-{country.lower()}.com",
        title="Head of Revenue Operations",
        seniority="director",
        department="revenue_operations",
        country=country,
        account=account,
        stage=LifecycleStage.NEW,
    )
    await Activity.create(lead=lead, type="trial_signup", occurred_at=now - timedelta(days=1))
    return lead


async def evaluate(app: Starlette, lead: Lead, now: datetime) -> None:
    """The service behind evaluateLead, at an injected time."""
    await evaluate_lead(
        engine=app.state.engine, lead_id=lead.id, trigger=EvaluationTrigger.API, now=now
    )


async def report(gql: GraphQLClient, lead: Lead) -> dict[str, Any]:
    body = await gql(LATEST, id=to_base64("Lead", lead.id))
    node: dict[str, Any] = body["data"]["node"]
    return node


async def test_business_deadline_across_a_weekend_and_holidays_in_two_time_zones(
    gql: GraphQLClient, app: Starlette
) -> None:
    await rep(gql, "Nina", "NA", NEW_YORK)
    await rep(gql, "Emma", "EMEA", BERLIN)
    # Thursday 24 Dec 2026, 15:00 UTC: 10:00 in New York, 16:00 in Berlin.
    now = datetime(2026, 12, 24, 15, 0, tzinfo=UTC)
    us, de = await trial_lead("US", now), await trial_lead("DE", now)
    for lead in (us, de):
        await evaluate(app, lead, now)

    na = await report(gql, us)
    assert na["owner"] == {"email": "nina@acme-sales.com"}
    # 7 h on Thursday, Christmas Day (US), the weekend, then 1 h on Monday: 10:00 EST.
    assert na["latestEvaluation"]["report"]["sla"] == {
        "priority": "p2",
        "hours": 8.0,
        "clock": "business",
        "deadline": "2026-12-28T15:00:00+00:00",
        "startsAt": None,
    }
    why = na["latestEvaluation"]["report"]["gap"]["whyDeadline"]
    assert "8 h of the owner's working time" in why
    emea = await report(gql, de)
    assert emea["owner"] == {"email": "emma@acme-sales.com"}
    # 1 h on Thursday, 25 and 26 Dec (DE holidays), Sunday, then 7 h on Monday: 16:00 CET.
    sla = emea["latestEvaluation"]["report"]["sla"]
    assert (sla["clock"], sla["deadline"]) == ("business", "2026-12-28T15:00:00+00:00")
    [handoff] = await Handoff.filter(lead_id=de.id)
    assert handoff.sla_deadline == datetime(2026, 12, 28, 15, 0, tzinfo=UTC)


async def test_a_route_queues_within_its_bound_and_is_skipped_beyond_it(
    gql: GraphQLClient, app: Starlette
) -> None:
    await rep(gql, "Nina", "NA", NEW_YORK)
    await rep(gql, "Emma", "EMEA", BERLIN)
    # Tuesday 1 Dec 2026, 07:00 in Berlin: Emma starts in 2 h, inside the route's 16 h bound.
    early = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
    lead = await trial_lead("DE", early)
    await evaluate(app, lead, early)
    node = await report(gql, lead)
    assert node["owner"] == {"email": "emma@acme-sales.com"}
    sla = node["latestEvaluation"]["report"]["sla"]
    # Her clock starts when she does: 8 working hours from 09:00 CET end at 17:00 CET.
    assert (sla["startsAt"], sla["deadline"]) == (
        "2026-12-01T08:00:00+00:00",
        "2026-12-01T16:00:00+00:00",
    )
    routing = node["latestEvaluation"]["report"]["routing"]
    assert routing["route"] == "route_emea_mid_market"
    assert "queued for the rep available soonest (09:00 CET)" in routing["why"]

    # Christmas Eve, 21:00 in Berlin: Emma is back after two holidays and a weekend, beyond
    # the bound; the EMEA routes are skipped and the global fallback gives the lead to Nina.
    late = datetime(2026, 12, 24, 20, 0, tzinfo=UTC)
    other = await trial_lead("AT", late)
    await evaluate(app, other, late)
    node = await report(gql, other)
    assert node["owner"] == {"email": "nina@acme-sales.com"}
    routing = node["latestEvaluation"]["report"]["routing"]
    assert routing["route"] == "route_global_fallback"
    assert "Emma outside working hours until Mon 28 Dec 09:00 CET" in routing["why"]


async def test_business_deadline_across_a_dst_change(gql: GraphQLClient, app: Starlette) -> None:
    await rep(gql, "Nina", "NA", NEW_YORK)
    # Friday 6 Mar 2026, 15:00 EST; clocks spring forward on Sunday 8 March.
    now = datetime(2026, 3, 6, 20, 0, tzinfo=UTC)
    lead = await trial_lead("US", now)
    await evaluate(app, lead, now)
    sla = (await report(gql, lead))["latestEvaluation"]["report"]["sla"]
    # 2 h on Friday, then 6 h from Monday 09:00 EDT (UTC-4): 15:00 EDT is 19:00 UTC.
    assert sla["deadline"] == "2026-03-09T19:00:00+00:00"


async def test_an_out_of_office_rep_is_skipped_with_the_reason(
    gql: GraphQLClient, app: Starlette
) -> None:
    avery = await rep(gql, "Avery", "NA")  # no calendar of their own: around the clock
    await rep(gql, "Blake", "NA")
    now = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
    # Avery was assigned longest ago: round robin would pick them, were they not away.
    await SalesRep.filter(email="blake@acme-sales.com").update(last_assigned_at=now)
    await RepAbsence.create(
        rep_id=int(GlobalID.from_id(avery).node_id),
        starts_at=now - timedelta(days=1),
        ends_at=datetime(2026, 12, 7, 9, 0, tzinfo=UTC),
        set_by="test",
    )
    lead = await trial_lead("US", now)
    await evaluate(app, lead, now)
    node = await report(gql, lead)
    assert node["owner"] == {"email": "blake@acme-sales.com"}
    why = node["latestEvaluation"]["report"]["routing"]["why"]
    assert "unavailable: Avery out of office until Mon 7 Dec 09:00 UTC" in why


async def test_available_now_and_next_available_at(gql: GraphQLClient) -> None:
    away = await rep(gql, "Avery", "NA")
    office = await rep(gql, "Nina", "NA", NEW_YORK)
    now = datetime.now(UTC)
    back = (now + timedelta(hours=3)).replace(microsecond=0)
    added = await gql(
        AWAY,
        input={"repId": away, "startsAt": (now - timedelta(hours=1)).isoformat(),
               "endsAt": back.isoformat(), "note": "dentist"},
    )  # fmt: skip
    assert added["data"]["addRepAbsence"]["userErrors"] == []
    assert added["data"]["addRepAbsence"]["absence"]["setBy"] == "key:test-admin"
    node = (await gql(REP, id=away))["data"]["node"]
    assert node["availableNow"] is False
    assert datetime.fromisoformat(node["nextAvailableAt"]) == back
    assert node["unavailableReason"].startswith("out of office until ")
    assert node["outOfOffice"] == {"totalCount": 1, "edges": [{"node": {"note": "dentist"}}]}

    saturday = "2026-12-05T12:00:00+00:00"
    node = (await gql(REP, id=office, after=saturday, at=saturday))["data"]["node"]
    assert node["nextAvailableAt"] == "2026-12-07T14:00:00+00:00"  # Monday 09:00 EST
    assert node["unavailableReason"] == "outside working hours until Mon 7 Dec 09:00 EST"
    tuesday = "2026-12-08T15:00:00+00:00"
    node = (await gql(REP, id=office, after=tuesday, at=tuesday))["data"]["node"]
    assert (node["nextAvailableAt"], node["unavailableReason"]) == (tuesday, None)


async def test_working_time_settings_are_checked_and_shown(gql: GraphQLClient) -> None:
    rep_id = await rep(gql, "Nina", "NA")
    shown = await gql(
        SET_TIME,
        input={
            "repId": rep_id,
            "timeZone": "Europe/Paris",
            "workingHours": [
                {"days": "mon-thu", "intervals": ["13:00-17:00", "08:30-12:00"]},
                {"days": "fri", "intervals": ["08:30-12:00"]},
            ],
            "holidayCountry": "FR",
        },
    )
    payload = shown["data"]["setRepWorkingTime"]
    assert payload["userErrors"] == []
    assert payload["rep"]["timeZone"] == "Europe/Paris"
    assert payload["rep"]["ownWorkingTime"] == ["timeZone", "workingHours", "holidayCountry"]
    assert payload["rep"]["workingHours"][0] == {
        "day": "mon",
        "intervals": ["08:30-12:00", "13:00-17:00"],
    }
    bad_zone = await gql(SET_TIME, input={"repId": rep_id, "timeZone": "Europe/Pariss"})
    [error] = bad_zone["data"]["setRepWorkingTime"]["userErrors"]
    assert (error["code"], error["field"]) == ("invalid_input", ["input", "timeZone"])
    assert "unknown time zone `Europe/Pariss`" in error["message"]
    bad_hours = await gql(
        SET_TIME, input={"repId": rep_id, "workingHours": [{"days": "mon", "intervals": ["9-5"]}]}
    )
    [error] = bad_hours["data"]["setRepWorkingTime"]["userErrors"]
    assert error["field"] == ["input", "workingHours"]
    assert error["suggestion"] == "write HH:MM-HH:MM, e.g. 09:00-17:00"
    # Nothing half-written: the rep keeps the settings of the last successful call.
    row = await SalesRep.get(email="nina@acme-sales.com")
    assert (row.time_zone, row.holiday_country) == ("Europe/Paris", "FR")
    reset = await gql(SET_TIME, input={"repId": rep_id})
    assert reset["data"]["setRepWorkingTime"]["rep"]["ownWorkingTime"] == []
    assert reset["data"]["setRepWorkingTime"]["rep"]["timeZone"] == "UTC"  # no territory default


async def test_out_of_office_by_own_key_yes_by_another_reps_key_no(
    gql: GraphQLClient, gql_as: GqlFactory
) -> None:
    avery = await rep(gql, "Avery", "NA")
    blake = await rep(gql, "Blake", "NA")
    own = await gql_as(Role.SALES, rep_email="avery@acme-sales.com")
    period = {"startsAt": "2030-01-04T00:00:00+00:00", "endsAt": "2030-01-11T00:00:00+00:00"}

    mine = await own(AWAY, input={"repId": avery, **period, "note": "ski"})
    payload = mine["data"]["addRepAbsence"]
    assert payload["userErrors"] == []
    assert payload["absence"]["rep"] == {"email": "avery@acme-sales.com"}
    theirs = await own(AWAY, input={"repId": blake, **period})
    [error] = theirs["data"]["addRepAbsence"]["userErrors"]
    assert (error["code"], error["field"]) == ("permission_denied", ["input", "repId"])
    unbound = await gql_as(Role.SALES)
    [error] = (await unbound(AWAY, input={"repId": blake, **period}))["data"]["addRepAbsence"][
        "userErrors"
    ]
    assert error["code"] == "permission_denied"
    assert await RepAbsence.filter(rep__email="blake@acme-sales.com").count() == 0

    overlap = await own(
        AWAY,
        input={
            "repId": avery,
            "startsAt": "2030-01-10T00:00:00Z",
            "endsAt": "2030-01-12T00:00:00Z",
        },
    )
    [error] = overlap["data"]["addRepAbsence"]["userErrors"]
    assert (error["code"], error["field"]) == ("conflict", ["input", "startsAt"])
    assert "Avery is already out of office from 2030-01-04" in error["message"]
    backwards = await own(
        AWAY, input={"repId": avery, "startsAt": period["endsAt"], "endsAt": period["startsAt"]}
    )
    [error] = backwards["data"]["addRepAbsence"]["userErrors"]
    assert (error["code"], error["field"]) == ("invalid_input", ["input", "endsAt"])

    absence_id = payload["absence"]["id"]
    other = await gql(AWAY, input={"repId": blake, **period})
    other_id = other["data"]["addRepAbsence"]["absence"]["id"]
    refused = await own(BACK, input={"absenceId": other_id})
    [error] = refused["data"]["removeRepAbsence"]["userErrors"]
    assert (error["code"], error["field"]) == ("permission_denied", ["input", "absenceId"])
    removed = await own(BACK, input={"absenceId": absence_id})
    assert removed["data"]["removeRepAbsence"] == {"absence": {"id": absence_id}, "userErrors": []}
    assert await RepAbsence.all().count() == 1  # Blake's, set by the admin


async def test_territory_defaults_come_from_the_live_rulebook(
    gql: GraphQLClient, live_restored: LiveEngine
) -> None:
    """With the full demo rulebook live, a rep without settings of their own gets their
    territory's calendar (rules/demo/working_time.yaml)."""
    live_restored.install(RulesEngine(load_rulebook(DEMO_RULES_DIR), workers=1))
    rep_id = await rep(gql, "Erik", "EMEA")
    query = """
    query($id: ID!, $after: DateTime) {
      node(id: $id) {
        ... on SalesRep {
          timeZone holidayCountry ownWorkingTime nextAvailableAt(after: $after)
          workingHours { day intervals }
        }
      }
    }"""
    friday_evening = "2026-12-04T17:00:00+00:00"
    node = (await gql(query, id=rep_id, after=friday_evening))["data"]["node"]
    assert (node["timeZone"], node["holidayCountry"], node["ownWorkingTime"]) == (
        "Europe/Berlin",
        "DE",
        [],
    )
    assert node["workingHours"][4] == {"day": "fri", "intervals": ["08:30-15:00"]}
    assert node["nextAvailableAt"] == "2026-12-07T07:30:00+00:00"  # Monday 08:30 CET
