"""Simulate reads batches ahead (``api.simulation.AHEAD``) and routes in-process
(``api.simulation_routing.Router``): still what publishing then does, when batches are read and
evaluated before the ones ahead of them have been routed."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest
from starlette.applications import Starlette

from api import simulation
from api.bulk import all_lead_ids, evaluate_leads
from api.bulk_read import campaign_keys, read_batch
from api.engine import RulesEngine
from api.enums import LifecycleStage
from api.facts import _active_adjustments, reps_now
from api.impact import Impact
from api.lead_filter import LeadFilter
from api.models import Evaluation, Handoff, Lead, SalesRep
from api.simulation import simulate
from api.simulation_routing import Router
from rules import load_rulebook
from rules.brief import BriefResult, BriefRouting, BriefStage
from tests.api.rulebook_data import demo_files, write_rulebook
from tests.api.test_bulk import NOW, hot_leads

FIT_ENTERPRISE = "    points: 25\n    when: {field: account.employee_count, gte: 1000}"


def _candidate(app: Starlette, tmp_path: Path) -> RulesEngine:
    """The test rulebook with another weight for enterprise fit: every hot lead's score
    changes, so every lead is a sample (with its full results)."""
    files = demo_files()
    assert FIT_ENTERPRISE in files["scores.yaml"]
    files["scores.yaml"] = files["scores.yaml"].replace(
        FIT_ENTERPRISE, FIT_ENTERPRISE.replace("25", "26")
    )
    engine = cast(RulesEngine, app.state.engine)
    return engine.with_rulebook(load_rulebook(write_rulebook(tmp_path / "candidate", files)))


async def _leads() -> list[int]:
    """18 hot leads in batches of 3 over three NA enterprise reps with room for 7 handoffs:
    round robin across batches, then nobody left. Every fourth lead, from the second, waits
    at the handoff stage without an owner; every fourth, from the fourth, stays there with
    one; the others move into it."""
    for name, capacity in (("ana", 2), ("ben", 2), ("cy", 3)):
        await SalesRep.create(email=f"{name}@x.test", name=name, territory="NA",
                              segments=["enterprise"], capacity=capacity)  # fmt: skip
    ana = await SalesRep.get(name="ana")
    ids = await hot_leads(18)
    await Lead.filter(id__in=ids[1::4]).update(stage=LifecycleStage.MQL)
    await Lead.filter(id__in=ids[3::4]).update(stage=LifecycleStage.MQL, owner_id=ana.id)
    return ids


async def _simulate(candidate: RulesEngine, app: Starlette) -> Impact:
    current = cast(RulesEngine, app.state.engine)
    return await simulate(
        current=current, candidate=candidate, lead_filter=LeadFilter(), samples=100, now=NOW
    )


def _fired(impact: Impact) -> dict[int, list[list[str]]]:
    return {
        s.lead_id: [[f.name, f.section, f.effect] for f in s.after.fired]
        for s in impact.samples["score"]
    }


async def test_read_ahead_predicts_what_publishing_does(
    app: Starlette, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four batches of three in the engines at once, read with the routing state of their
    reading: the predicted owners, moves and handoffs are the ones publishing (batches of three)
    then makes, and so are the samples' full results (the rep each one's routing names)."""
    monkeypatch.setattr(simulation, "BATCH", 3)
    monkeypatch.setattr(simulation, "AHEAD", 4)
    ids = await _leads()
    before = dict(cast(list[tuple[int, int]], await Lead.all().values_list("id", "owner_id")))
    candidate = _candidate(app, tmp_path)

    impact = await _simulate(candidate, app)
    assert impact.leads == len(impact.samples["score"]) == 18
    owner_after = {s.lead_id: s.owner_after for s in impact.samples["score"]}
    assert 0 < impact.handoffs < 14  # the reps filled up on the way

    summary = await evaluate_leads(engine=candidate, lead_ids=await all_lead_ids(), now=NOW,
                                   batch_size=3)  # fmt: skip
    assert (summary.moved, summary.handoffs) == (impact.moved, impact.handoffs)
    after = dict(cast(list[tuple[int, int]], await Lead.all().values_list("id", "owner_id")))
    assert owner_after == after != before
    per_rep = {r.id: await Handoff.filter(owner_id=r.id).count() for r in await SalesRep.all()}
    assert dict(impact.owners_gained) == {k: v for k, v in per_rep.items() if v}
    rows = await Evaluation.filter(lead_id__in=ids, rulebook_version=candidate.version)
    recorded = {row.lead_id: row.fired for row in rows}  # type: ignore[attr-defined]
    assert _fired(impact) == recorded

    # The same run without the routing recomputed as each batch would have been read: the
    # staying leads' samples would name the reps of an older routing state.
    monkeypatch.setattr(simulation, "same_reps", lambda *_: True)
    stale = await _simulate(candidate, app)
    assert _fired(stale) != recorded


async def test_the_router_routes_as_the_reps_given(app: Starlette) -> None:
    """A lead staying at the handoff stage gets the routing the reps of the batch's reading
    give it; leads moving into it keep theirs (``route_batch`` routes them again), and so do
    leads elsewhere (they route nowhere)."""
    engine = cast(RulesEngine, app.state.engine)
    ids = await _leads()
    reps = await reps_now(NOW)
    states, inputs = await read_batch(
        ids[:4],
        now=NOW,
        lookback_days=engine.lookback_days,
        campaigns=await campaign_keys(),
        adjustments=await _active_adjustments(NOW),
        reps=reps,
    )
    ordered = [inputs[s.id] for s in states]
    briefs = await engine.pool.evaluate_brief(ordered, rulebook=engine.rulebook)
    full = [r.model_copy(update={"open_handoffs": r.capacity}) for r in reps]
    router = Router(engine)
    again = router.as_read(ordered, briefs, full)
    stages = [cast(BriefResult, b).stage for b in briefs]
    assert [(s.from_stage, s.to_stage) for s in stages] == [
        ("new", "mql"), ("mql", None), ("new", "mql"), ("mql", None)
    ]  # fmt: skip
    picked: list[Any] = [cast(BriefResult, b).routing.rep_id for b in briefs]
    assert all(picked)
    assert [cast(BriefResult, b).routing.rep_id for b in again] == [
        picked[0], None, picked[2], None
    ]  # fmt: skip
    elsewhere = BriefResult("v", [], {}, BriefStage("new", None, None, None),
                            BriefRouting(None, None))  # fmt: skip
    assert router.as_read(ordered[:1], [elsewhere], full) == [elsewhere]
