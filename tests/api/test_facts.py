"""The facts an evaluation reads: a rep's open load counts every handoff that holds capacity."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from starlette.applications import Starlette

from api.enums import HandoffStatus, LifecycleStage
from api.facts import build_input, build_inputs
from api.models import Activity, Handoff, Lead, SalesRep, TargetingAdjustment
from tests.api.lead_data import ANCHOR, lead_with_account_and_campaign
from tests.conftest import GraphQLClient
from tests.schema.test_routing import mql


async def test_queued_handoffs_count_as_a_reps_load_when_routing_one_lead(
    gql: GraphQLClient,
) -> None:
    """A rep of capacity 1 holding a queued handoff is full: the next MQL waits instead of
    going to them (the bulk path counted queued ones already; the single-lead path did not)."""
    ana = await SalesRep.create(email="ana@leadgate.test", name="Ana", territory="NA",
                                segments=["enterprise"], capacity=1)  # fmt: skip
    held = await Lead.create(email="held@example.com", stage=LifecycleStage.MQL, owner=ana)
    now = datetime.now(UTC)
    await Handoff.create(lead=held, owner=ana, status=HandoffStatus.QUEUED,
                         sla_deadline=now + timedelta(hours=4), queue="fallback")  # fmt: skip

    await mql(gql, 1)

    lead = await Lead.get(email="vp1@big1.com")
    assert lead.owner_id is None  # type: ignore[attr-defined]
    assert await Handoff.filter(owner_id=ana.id).count() == 1


async def test_one_leads_lean_input_equals_the_orm_input(app: Starlette) -> None:
    """evaluateLead's raw reads give what ``build_inputs`` gives (activity properties aside),
    for leads with and without account or campaign, around the window's edges."""
    lead, campaign = await lead_with_account_and_campaign(40)
    for at in (
        ANCHOR - timedelta(days=90),
        ANCHOR - timedelta(hours=3, microseconds=17),
        ANCHOR,
        ANCHOR + timedelta(microseconds=1),
        ANCHOR - timedelta(days=91),
    ):
        await Activity.create(lead_id=lead.id, type="page_view", occurred_at=at,
                              properties={"path": "/pricing"})  # fmt: skip
    for scope, value in (("segment", "enterprise"), ("campaign", campaign.key),
                         ("segment", "smb")):  # fmt: skip
        await TargetingAdjustment.create(
            rule="r", score="fit", delta=-5.5, scope_kind=scope, scope_value=value,
            reason="test", rulebook_version="v", starts_at=ANCHOR - timedelta(days=1),
            expires_at=ANCHOR + timedelta(days=1),
        )  # fmt: skip
    free = await Lead.create(email="solo@gmail.com")  # no account, no campaign
    checked = 0
    for row in [*await Lead.all().order_by("id").limit(6), await Lead.get(id=lead.id), free]:
        [expected] = (await build_inputs(leads=[row], now=ANCHOR, lookback_days=90)).values()
        lean = await build_input(lead=row, now=ANCHOR, lookback_days=90)
        assert lean == expected.model_copy(
            update={"activities": [a.model_copy(update={"properties": {}})
                                   for a in expected.activities]}
        )  # fmt: skip
        assert (await build_input(lead=row, now=ANCHOR, lookback_days=90, reps=False)).reps == []
        checked += 1
    assert checked == 8
    lean = await build_input(lead=await Lead.get(id=lead.id), now=ANCHOR, lookback_days=90)
    assert len(lean.adjustments) == 2
    assert sum(1 for a in lean.activities if a.type == "page_view") >= 3
    assert lean.account.annual_revenue == 1234567.89
    assert lean.lead.campaign == campaign.key
    assert lean.reps
