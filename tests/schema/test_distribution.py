"""Weighted pools, catch-up, escalation and the fairness report, through GraphQL with injected
time (the demo rulebook: route_na_mid_market is 70/30, route_emea_mid_market repays at most
2 missed leads a day, p1 handoffs escalate after 2 hours, twice, then to a queue)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from starlette.applications import Starlette
from strawberry.relay import to_base64

from api.auth import create_api_key
from api.bulk import evaluate_leads
from api.engine import RulesEngine
from api.enums import HandoffStatus, Role
from api.escalation import escalate_due
from api.handoffs import accept_handoff, expire_overdue
from api.models import (
    Account,
    Activity,
    DomainEvent,
    Handoff,
    HandoffStep,
    Lead,
    RepAbsence,
    SalesRep,
)
from api.webhooks.catalogue import translate
from rules import load_rulebook
from tests.conftest import GqlFactory, GraphQLClient, wall_clock_rules
from tests.schema import test_subscriptions
from tests.schema.test_subscriptions import next_message, open_session, subscribe

DOMAIN = "northpeak-analytics.example"
ETHAN, PRIYA = f"ethan.brooks@{DOMAIN}", f"priya.nair@{DOMAIN}"
# A Monday morning, so that every injected time of a test stays in one ISO week.
NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
ws_url = test_subscriptions.ws_url  # the real-socket server fixture
REPORT = """query ($route: String!, $day: Date) {
  fairnessReport(route: $route, day: $day) {
    periodStart periodEnd
    reps { email weight assigned entitled belowShare owed offered accepted acceptanceRate
           meanAcceptHours meanFirstTouchHours }
  }
}"""


def engine_of(app: Starlette) -> RulesEngine:
    return cast(RulesEngine, app.state.engine)


async def new_leads(n: int, *, country: str, employees: int, at: datetime, tag: str) -> list[int]:
    """n VPs with a demo request an hour before ``at``: each one an MQL routed by country
    and size."""
    domains = [f"{tag}{i}.example" for i in range(n)]
    await Account.bulk_create(
        [Account(domain=d, employee_count=employees, country=country) for d in domains]
    )
    accounts = dict(await Account.filter(domain__in=domains).values_list("domain", "id"))
    await Lead.bulk_create(
        [
            Lead(email=f"vp@{d}", title="VP Sales", seniority="vp", country=country,
                 account_id=accounts[d])
            for d in domains
        ]
    )  # fmt: skip
    ids = sorted(
        cast(list[int], await Lead.filter(email__in=[f"vp@{d}" for d in domains]).values_list(
            "id", flat=True
        ))
    )  # fmt: skip
    await Activity.bulk_create(
        [
            Activity(lead_id=i, type="demo_request", occurred_at=at - timedelta(hours=1),
                     external_id=f"{tag}-demo-{i}")
            for i in ids
        ]
    )  # fmt: skip
    return ids


async def rep(email: str, territory: str, segments: list[str], **kw: Any) -> SalesRep:
    return await SalesRep.create(
        email=email, name=email.split("@")[0], territory=territory, segments=segments,
        capacity=kw.pop("capacity", 5000), **kw,
    )  # fmt: skip


async def owners(ids: list[int]) -> dict[str, int]:
    rows = await Handoff.filter(lead_id__in=ids).values_list("owner__email", flat=True)
    counts: dict[str, int] = {}
    for email in rows:
        counts[str(email)] = counts.get(str(email), 0) + 1
    return counts


async def report(gql: GraphQLClient, route: str, at: datetime = NOW) -> dict[str, Any]:
    body = await gql(REPORT, route=route, day=at.date().isoformat())
    assert "errors" not in body, body
    data = body["data"]["fairnessReport"]
    return {"period": (data["periodStart"], data["periodEnd"])} | {
        r["email"]: r for r in data["reps"]
    }


async def test_a_70_30_pool_over_1000_leads_lands_on_its_weights(
    app: Starlette, gql: GraphQLClient
) -> None:
    await rep(ETHAN, "NA", ["mid_market"])
    await rep(PRIYA, "NA", ["mid_market", "smb"])
    ids = await new_leads(1000, country="US", employees=500, at=NOW, tag="mm")
    summary = await evaluate_leads(engine=engine_of(app), lead_ids=ids, now=NOW)
    assert summary.handoffs == 1000
    counts = await owners(ids)
    assert abs(counts[ETHAN] / 1000 - 0.7) <= 0.03
    assert abs(counts[PRIYA] / 1000 - 0.3) <= 0.03
    got = await report(gql, "route_na_mid_market")
    assert got["period"] == ("2026-11-30", "2026-12-07")
    for email, weight in ((ETHAN, 0.7), (PRIYA, 0.3)):
        row = got[email]
        assert row["weight"] == pytest.approx(weight)
        assert row["assigned"] == counts[email] == row["offered"]  # hand count
        assert row["entitled"] == pytest.approx(1000 * weight)
        assert abs(row["belowShare"]) <= 1
    first = await Handoff.filter(lead_id=ids[0]).get()
    body = await gql(
        "query ($id: ID!) { node(id: $id) { ... on Handoff { route steps { totalCount "
        "edges { node { kind reason rep { email } } } } } } }",
        id=to_base64("Handoff", first.id),
    )
    handoff = body["data"]["node"]
    assert handoff["route"] == "route_na_mid_market"
    [step] = [e["node"] for e in handoff["steps"]["edges"]]
    assert step["kind"] == "assigned"
    assert step["reason"].startswith("route route_na_mid_market: 2 eligible rep(s), picked ")
    assert "weight 0.7" in step["reason"]
    assert "share this week" in step["reason"]


async def test_an_absent_rep_is_not_flooded_on_return_under_catch_up_none(
    app: Starlette, gql: GraphQLClient
) -> None:
    await rep(ETHAN, "NA", ["mid_market"])
    priya = await rep(PRIYA, "NA", ["mid_market", "smb"], active=False)  # away
    away = await new_leads(100, country="US", employees=500, at=NOW, tag="away")
    await evaluate_leads(engine=engine_of(app), lead_ids=away, now=NOW)
    assert await owners(away) == {ETHAN: 100}
    await SalesRep.filter(id=priya.id).update(active=True)  # back on Tuesday
    tuesday = NOW + timedelta(days=1)
    back = await new_leads(100, country="US", employees=500, at=tuesday, tag="back")
    await evaluate_leads(engine=engine_of(app), lead_ids=back, now=tuesday)
    counts = await owners(back)
    assert abs(counts[PRIYA] - 30) <= 1  # her 30 %, not the 30 she missed on top
    got = await report(gql, "route_na_mid_market", tuesday)
    assert got[PRIYA]["entitled"] == pytest.approx(30)  # nothing accrued while away
    assert got[PRIYA]["owed"] == 0
    assert got[ETHAN]["entitled"] == pytest.approx(170)


async def test_an_out_of_office_rep_is_skipped_and_owed_nothing_on_return(
    app: Starlette, gql: GraphQLClient
) -> None:
    """Out of office (helper "time"'s calendars) under catch-up none: no debt builds up."""
    await rep(ETHAN, "NA", ["mid_market"])
    priya = await rep(PRIYA, "NA", ["mid_market", "smb"])
    tuesday = NOW + timedelta(days=1)
    await RepAbsence.create(rep=priya, starts_at=NOW - timedelta(days=3), ends_at=tuesday,
                            note="conference", set_by="test")  # fmt: skip
    away = await new_leads(50, country="US", employees=500, at=NOW, tag="ooo")
    await evaluate_leads(engine=engine_of(app), lead_ids=away, now=NOW)
    assert await owners(away) == {ETHAN: 50}
    first = await Handoff.get(lead_id=away[0])
    [step] = await HandoffStep.filter(handoff_id=first.id)
    assert "not eligible now: " + PRIYA in step.reason
    back = await new_leads(50, country="US", employees=500, at=tuesday, tag="ooo-back")
    await evaluate_leads(engine=engine_of(app), lead_ids=back, now=tuesday)
    assert abs((await owners(back))[PRIYA] - 15) <= 1  # 30 % of 50, nothing more
    got = await report(gql, "route_na_mid_market", tuesday)
    assert got[PRIYA]["entitled"] == pytest.approx(15)


async def test_catch_up_is_capped_at_n_extra_leads_a_day(
    app: Starlette, gql: GraphQLClient
) -> None:
    tom = f"tom.hughes@{DOMAIN}"
    lea = f"lea.dubois@{DOMAIN}"
    await rep(tom, "EMEA", ["mid_market"])
    lea_rep = await rep(lea, "EMEA", ["smb", "mid_market"], active=False)
    away = await new_leads(40, country="GB", employees=500, at=NOW, tag="gb-away")
    await evaluate_leads(engine=engine_of(app), lead_ids=away, now=NOW)
    assert (await report(gql, "route_emea_mid_market"))[lea]["owed"] == pytest.approx(20)
    await SalesRep.filter(id=lea_rep.id).update(active=True)
    for day, owed in ((1, 18), (2, 16)):
        at = NOW + timedelta(days=day)
        ids = await new_leads(10, country="GB", employees=500, at=at, tag=f"gb{day}-")
        await evaluate_leads(engine=engine_of(app), lead_ids=ids, now=at)
        # 2 leads a day repay her absence; the other 8 are shared as usual (4 or 5 each)
        assert (await owners(ids))[lea] in (2 + 4, 2 + 5)
        got = await report(gql, "route_emea_mid_market", at)
        assert got[lea]["owed"] == pytest.approx(owed)


async def test_a_handoff_escalates_twice_then_goes_to_the_queue(
    app: Starlette, gql: GraphQLClient, gql_as: GqlFactory
) -> None:
    emails = [f"ae{i}@x.test" for i in range(3)]
    for email in emails:
        await rep(email, "NA", ["enterprise"])
    [lead] = await new_leads(1, country="US", employees=5000, at=NOW, tag="hot")
    await evaluate_leads(engine=engine_of(app), lead_ids=[lead], now=NOW)
    handoff = await Handoff.get(lead_id=lead)
    assert handoff.priority == "p1"
    assert handoff.escalate_at == NOW + timedelta(hours=2)
    first = handoff.owner_id  # type: ignore[attr-defined]
    book = engine_of(app).rulebook
    assert await escalate_due(book=book, now=NOW + timedelta(hours=1)) == 0  # not yet
    for hours in (2, 4, 6):
        assert await escalate_due(book=book, now=NOW + timedelta(hours=hours)) == 1
    assert await escalate_due(book=book, now=NOW + timedelta(hours=8)) == 0  # done
    await expire_overdue(now=NOW + timedelta(hours=8))  # the chain's 4 h SLA: one breach,
    # written when it left for the queue (the SLA job had not run): not twice
    handoff = await Handoff.get(id=handoff.id)
    assert (handoff.status, handoff.queue, handoff.escalations) == (
        HandoffStatus.QUEUED, "sales_managers", 2
    )  # fmt: skip
    assert handoff.sla_deadline == NOW + timedelta(hours=4)  # the SLA counts the whole chain
    assert await Lead.get(id=lead).values_list("owner_id", flat=True) is None
    body = await gql(
        "query ($id: ID!) { node(id: $id) { ... on Handoff { status queue escalations steps { "
        "edges { node { step kind queue reason at rep { email } } } } } } }",
        id=to_base64("Handoff", handoff.id),
    )
    node = body["data"]["node"]
    assert (node["status"], node["queue"], node["escalations"]) == ("QUEUED", "sales_managers", 2)
    steps = [e["node"] for e in node["steps"]["edges"]]
    assert [s["kind"] for s in steps] == ["assigned", "escalated", "escalated", "queued"]
    chain = [s["rep"]["email"] for s in steps[:3]]
    assert sorted(chain) == emails  # every rep once, none twice
    assert steps[3]["rep"] is None
    assert steps[3]["queue"] == "sales_managers"
    assert steps[1]["reason"].startswith(
        f"escalation 1 of 2: not accepted within 2 h (wall clock) by {chain[0]}; route "
        "route_na_enterprise: 2 eligible rep(s)"
    )
    assert "fallback queue sales_managers" in steps[3]["reason"]
    events = await DomainEvent.filter(kind="handoff_escalated").order_by("id")
    assert [e.payload["kind"] for e in events] == ["escalated", "escalated", "queued"]
    assert [e.payload["step"] for e in events] == [1, 2, 3]
    hooks = await translate(events)
    assert [h.type for h in hooks] == ["handoff.escalated"] * 3
    assert hooks[0].body["data"]["changes"]["ownerId"]["old"] == to_base64("SalesRep", first)
    assert await DomainEvent.filter(kind="sla_breached").count() == 1

    # the first rep's late accept is refused, clearly
    late = await gql_as(Role.SALES, chain[0])
    accept = (
        "mutation ($id: ID!) { acceptHandoff(input: {handoffId: $id}) { handoff { status } "
        "userErrors { code message } } }"
    )
    body = await late(accept, id=to_base64("Handoff", handoff.id))
    [error] = body["data"]["acceptHandoff"]["userErrors"]
    assert error["code"] == "handoff_reassigned"
    assert "re-assigned to another rep" in error["message"]
    last = await gql_as(Role.SALES, chain[2])
    body = await last(accept, id=to_base64("Handoff", handoff.id))
    assert (
        "re-assigned to queue sales_managers"
        in (body["data"]["acceptHandoff"]["userErrors"][0]["message"])
    )
    # someone outside the chain claims it from the queue
    await rep("manager@x.test", "NA", [])
    manager = await gql_as(Role.SALES, "manager@x.test")
    body = await manager(accept, id=to_base64("Handoff", handoff.id))
    assert body["data"]["acceptHandoff"] == {"handoff": {"status": "ACCEPTED"}, "userErrors": []}
    kinds = [s.kind for s in await HandoffStep.filter(handoff_id=handoff.id).order_by("step")]
    assert kinds[-1] == "claimed"


async def test_a_fallback_rep_gets_the_handoff_after_the_escalations(
    app: Starlette, tmp_path: Path
) -> None:
    """``then: {rep: …}`` instead of a queue (a copy of the demo rulebook)."""
    wall_clock_rules(tmp_path)
    sla = (
        (tmp_path / "sla.yaml")
        .read_text()
        .replace("then: {queue: sales_managers}", "then: {rep: boss@x.test}")
        .replace("times: 2", "times: 1")
    )
    (tmp_path / "sla.yaml").write_text(sla)
    book = load_rulebook(tmp_path)
    await rep("ae0@x.test", "NA", ["enterprise"])
    await rep("ae1@x.test", "NA", ["enterprise"])
    boss = await rep("boss@x.test", "NA", [])
    [lead] = await new_leads(1, country="US", employees=5000, at=NOW, tag="hot")
    await evaluate_leads(engine=engine_of(app), lead_ids=[lead], now=NOW)
    for hours in (2, 4):
        assert await escalate_due(book=book, now=NOW + timedelta(hours=hours)) == 1
    handoff = await Handoff.get(lead_id=lead)
    assert handoff.owner_id == boss.id  # type: ignore[attr-defined]
    assert handoff.status == HandoffStatus.PENDING
    assert handoff.escalate_at is None
    assert (await Lead.get(id=lead)).owner_id == boss.id  # type: ignore[attr-defined]
    kinds = [s.kind for s in await HandoffStep.filter(handoff_id=handoff.id).order_by("step")]
    assert kinds == ["assigned", "escalated", "fallback"]


async def test_the_fairness_report_matches_hand_counts(app: Starlette, gql: GraphQLClient) -> None:
    ethan = await rep(ETHAN, "NA", ["mid_market"])
    await rep(PRIYA, "NA", ["mid_market", "smb"])
    ids = await new_leads(10, country="US", employees=500, at=NOW, tag="fr")
    await evaluate_leads(engine=engine_of(app), lead_ids=ids, now=NOW)
    mine = await Handoff.filter(owner_id=ethan.id).order_by("id")
    assert len(mine) == 7
    # Ethan accepts three: after 1, 2 and 6 hours
    for handoff, hours in zip(mine, (1, 2, 6), strict=False):
        await accept_handoff(handoff_id=handoff.id, actor="test", now=NOW + timedelta(hours=hours))
    got = await report(gql, "route_na_mid_market")
    row = got[ETHAN]
    assert (row["assigned"], row["offered"], row["accepted"]) == (7, 7, 3)
    assert row["acceptanceRate"] == pytest.approx(3 / 7)
    assert row["meanAcceptHours"] == pytest.approx(3.0)
    assert row["meanFirstTouchHours"] == pytest.approx(3.0)
    other = got[PRIYA]
    assert (other["assigned"], other["accepted"], other["acceptanceRate"]) == (3, 0, 0)
    assert other["meanAcceptHours"] is None
    body = await gql('{ fairnessReport(route: "nope") { route } }')
    assert body["errors"][0]["extensions"]["code"] == "not_found"


async def test_each_escalation_step_reaches_the_new_owners_subscription(
    app: Starlette, ws_url: str
) -> None:
    ae0 = await rep("ae0@x.test", "NA", ["enterprise"])
    ae1 = await rep("ae1@x.test", "NA", ["enterprise"])
    [lead] = await new_leads(1, country="US", employees=5000, at=NOW, tag="hot")
    await evaluate_leads(engine=engine_of(app), lead_ids=[lead], now=NOW)
    handoff = await Handoff.get(lead_id=lead)
    nxt = ae1 if handoff.owner_id == ae0.id else ae0  # type: ignore[attr-defined]
    _, token = await create_api_key(name="next", role=Role.SALES, rep_email=nxt.email)
    ws = await open_session(ws_url, token)
    try:
        await subscribe(ws, "subscription { handoffs { escalations owner { email } } }")
        await escalate_due(book=engine_of(app).rulebook, now=NOW + timedelta(hours=2))
        message = await next_message(ws)
        assert message["type"] == "next", message
        assert message["payload"]["data"]["handoffs"] == {
            "escalations": 1,
            "owner": {"email": nxt.email},
        }
    finally:
        await ws.close()
