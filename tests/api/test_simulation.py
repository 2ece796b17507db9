"""Simulate predicts the owners publishing then gives: it routes a batch as the bulk job does
(api.bulk.route_batch), on the same leads in the same batches."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from itertools import product
from typing import cast

from starlette.applications import Starlette

from api.bulk import all_lead_ids, evaluate_leads
from api.bulk_read import LeadState, campaign_keys, read_batch
from api.demo import seed_demo
from api.engine import RulesEngine
from api.enums import EvaluationTrigger, LifecycleStage
from api.facts import _active_adjustments, reps_now
from api.lead_filter import LeadFilter
from api.models import Handoff, Lead, SalesRep
from api.outcomes import plan_outcome
from api.simulation import plan_moves, simulate
from api.telemetry import EVALUATIONS
from rules import EvaluationInput, EvaluationResult, StageOutcome
from rules.brief import BriefResult, BriefStage
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


async def _demo_states(engine: RulesEngine) -> tuple[list[LeadState], dict[int, EvaluationInput]]:
    """Demo leads spread over every stage, some owned, read as the bulk job reads them."""
    await seed_demo(leads=120)
    for rep in ("ana", "ben"):
        segments = ["enterprise", "mid_market", "smb"]
        await SalesRep.create(
            email=f"{rep}@x.test", name=rep, territory="NA", segments=segments, capacity=50
        )
    rep_ids = cast(list[int], await SalesRep.all().values_list("id", flat=True))
    ids = await all_lead_ids()
    stages = list(LifecycleStage)
    for n, lead_id in enumerate(ids):
        owner = rep_ids[n % len(rep_ids)] if n % 3 == 0 else None
        await Lead.filter(id=lead_id).update(stage=stages[n % len(stages)], owner_id=owner)
    return await read_batch(
        ids,
        now=NOW,
        lookback_days=engine.lookback_days,
        campaigns=await campaign_keys(),
        adjustments=await _active_adjustments(NOW),
        reps=await reps_now(NOW),
    )


async def test_plan_moves_decides_what_plan_outcome_does(app: Starlette) -> None:
    """The brief results equal the full ones in every field they keep, and ``plan_moves`` on a
    brief result decides the stage, refusal, owner and handoff ``plan_outcome`` (what publishing
    writes) decides on the full one, for every lead, with and without an open handoff."""
    engine = cast(RulesEngine, app.state.engine)
    states, inputs = await _demo_states(engine)
    ordered = [inputs[s.id] for s in states]
    fulls = await engine.evaluate_batch(ordered)
    briefs = await engine.pool.evaluate_brief(ordered, rulebook=engine.rulebook)
    seen: Counter[str] = Counter()
    for state, full, brief in zip(states, fulls, briefs, strict=True):
        assert isinstance(full, EvaluationResult)
        assert isinstance(brief, BriefResult)
        assert brief.rulebook_version == full.rulebook_version
        assert brief.fired_names == full.fired_names
        assert brief.score_values == {n: s.value for n, s in full.scores.items()}
        assert brief.stage == BriefStage(**full.stage.model_dump())
        assert (brief.routing.route, brief.routing.rep_id) == (
            full.routing.route,
            full.routing.rep_id,
        )
        # And moves the demo rulebook never asks for: illegal ones, one without a reason.
        forced = []
        for to in ("new", "mql", "disqualified"):
            stage = StageOutcome(from_stage=state.stage.value, to_stage=to, rule="forced")
            forced.append(
                (
                    full.model_copy(update={"stage": stage}),
                    replace(brief, stage=BriefStage(state.stage.value, to, "forced", None)),
                )
            )
        for (result, short), open_handoff in product([(full, brief), *forced], (False, True)):
            rows = plan_outcome(
                handoff_stage=engine.handoff_stage,
                lead=cast(Lead, state),
                fact_input=inputs[state.id],
                result=result,
                trigger=EvaluationTrigger.BULK,
                now=NOW,
                has_open_handoff=open_handoff,
            )
            moves = plan_moves(
                handoff_stage=engine.handoff_stage,
                lead=state,
                result=short,
                has_open_handoff=open_handoff,
            )
            stage_after = rows.evaluation.stage_after if rows.evaluation else state.stage
            assert moves.stage_after == stage_after
            assert moves.refused == rows.refused
            assert moves.owner_id == rows.lead_changes.get("owner_id")
            assert moves.handoff == (rows.handoff is not None)
            seen.update(
                k
                for k, v in {
                    "moved": stage_after != state.stage,
                    "refused": rows.refused,
                    "handoff": rows.handoff,
                    "owner": moves.owner_id,
                }.items()
                if v
            )
    assert set(seen) == {"moved", "refused", "handoff", "owner"}, seen


async def test_simulate_counts_no_evaluations(app: Starlette) -> None:
    """Simulate evaluates nothing for real: the evaluations counter (``plan_outcome`` counted
    every lead as a "bulk" evaluation) stays as it was."""
    engine = cast(RulesEngine, app.state.engine)
    await _demo_states(engine)

    def counted() -> float:
        return sum(
            s.value
            for metric in EVALUATIONS.collect()
            for s in metric.samples
            if s.name.endswith("_total")
        )

    before = counted()
    impact = await simulate(current=engine, candidate=engine, lead_filter=LeadFilter(), now=NOW)
    assert impact.leads == 120
    assert impact.moved > 0
    assert counted() == before
