"""The facts an evaluation reads: a rep's open load counts every handoff that holds capacity."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from api.enums import HandoffStatus, LifecycleStage
from api.models import Handoff, Lead, SalesRep
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
