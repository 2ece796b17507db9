"""Simulate predicts the owners publishing then gives: it routes a batch as the bulk job does
(api.bulk.route_batch), on the same leads in the same batches."""

from __future__ import annotations

from typing import cast

from starlette.applications import Starlette

from api.bulk import all_lead_ids, evaluate_leads
from api.engine import RulesEngine
from api.enums import LifecycleStage
from api.lead_filter import LeadFilter
from api.models import Handoff, Lead, SalesRep
from api.simulation import simulate
from tests.api.test_bulk import NOW, hot_leads


async def test_predicted_owners_are_the_owners_publishing_gives(app: Starlette) -> None:
    """Round robin over three reps, in one batch: leads moving into the handoff stage (routed
    one after the other) between leads already waiting there without an owner (routed on the
    batch's first evaluation). Every predicted owner is the owner the bulk job then writes."""
    engine = cast(RulesEngine, app.state.engine)
    for name in ("ana", "ben", "cy"):
        await SalesRep.create(email=f"{name}@x.test", name=name, territory="NA",
                              segments=["enterprise"], capacity=50)  # fmt: skip
    ids = await hot_leads(12)
    waiting = ids[1::3]
    await Lead.filter(id__in=waiting).update(stage=LifecycleStage.MQL)

    impact = await simulate(
        current=engine, candidate=engine, lead_filter=LeadFilter(), samples=100, now=NOW
    )
    predicted = {s.lead_id: s.owner_after for s in impact.samples["owner"]}
    assert impact.handoffs == len(predicted) == 12
    assert impact.moved == 8
    sample = impact.samples["handoff"][0]
    assert sample.email.startswith("vp@big")
    assert sample.before.not_fired  # "why not", computed for the samples only
    assert sample.after.not_fired

    summary = await evaluate_leads(engine=engine, lead_ids=await all_lead_ids(), now=NOW)
    assert (summary.moved, summary.handoffs) == (8, 12)
    owners = dict(cast(list[tuple[int, int]], await Lead.all().values_list("id", "owner_id")))
    assert predicted == owners
    rep_ids = cast(list[int], await SalesRep.all().values_list("id", flat=True))
    per_rep = {rep_id: await Handoff.filter(owner_id=rep_id).count() for rep_id in rep_ids}
    assert dict(impact.owners_gained) == per_rep
