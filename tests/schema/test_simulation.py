"""simulateRulebook through HTTP: its predicted moves are what publishing then does, and
simulating a rollback says which leads and handoffs would stay."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
from starlette.applications import Starlette

import api.simulation
from api.bulk import all_lead_ids, evaluate_leads
from api.demo import seed_demo
from api.engine import cpu_count
from api.enums import Role
from api.live import LiveEngine
from api.models import Evaluation, Handoff, LeadStageChange
from rules import EnginePool
from tests.api.rulebook_data import demo_files
from tests.conftest import GqlFactory, GraphQLClient
from tests.schema.test_rulebook_versions import PUBLISH, files_input

SIMULATE = """
query($input: SimulateRulebookInput!) {
  simulateRulebook(input: $input) {
    report {
      currentVersion candidateVersion leads failed moved refused handoffs scoresChanged
      moves { fromStage toStage leads }
      owners { rep { email } gained lost }
      histograms { score edges before after }
      fireChanges { rule before after }
      stayLeads stayHandoffs
      samples { kind stageBefore stageAfter lead { email stage }
                before { headline } after { headline fired { name } } }
    }
    userErrors { code message field }
  }
}"""

JOB = "query($id: ID!) { bulkJob(id: $id) { status total processed moved handoffs progress } }"


async def simulate(gql: GraphQLClient, files: dict[str, str]) -> dict[str, Any]:
    body = await gql(SIMULATE, input={"files": files_input(files), "samples": 2})
    payload = body["data"]["simulateRulebook"]
    assert payload["userErrors"] == [], payload
    report: dict[str, Any] = payload["report"]
    return report


async def finished(gql: GraphQLClient, job_id: str) -> dict[str, Any]:
    for _ in range(600):
        job: dict[str, Any] = (await gql(JOB, id=job_id))["data"]["bulkJob"]
        if job["status"] == "DONE":
            return job
        await asyncio.sleep(0.2)
    raise AssertionError(f"job never finished: {job}")


async def test_predicted_moves_are_the_moves_publishing_makes(
    gql_as: GqlFactory, live_restored: LiveEngine
) -> None:
    await seed_demo(leads=150)
    await evaluate_leads(engine=live_restored.current, lead_ids=await all_lead_ids())
    revops = await gql_as(Role.REVOPS)
    baseline = await revops(PUBLISH, input={"files": files_input(demo_files()), "note": "base"})
    assert baseline["data"]["publishRulebook"]["rulebookVersion"]["active"]
    await finished(revops, baseline["data"]["publishRulebook"]["job"]["id"])
    evaluations_before = await Evaluation.all().count()

    candidate = demo_files(engagement=10, fit=35)
    report = await simulate(revops, candidate)
    assert await Evaluation.all().count() == evaluations_before  # nothing written
    predicted = {(m["fromStage"], m["toStage"]): m["leads"] for m in report["moves"]}
    assert report["moved"] == sum(predicted.values()) > 0
    assert report["leads"] == 150
    assert report["failed"] == 0
    assert {s["kind"] for s in report["samples"]} >= {"move", "handoff"}
    mover = next(s for s in report["samples"] if s["kind"] == "move")
    assert mover["after"]["headline"].startswith(f"Moved {mover['stageBefore']} → ")
    assert mover["lead"]["stage"].lower() == mover["stageBefore"]
    changed = {f["rule"] for f in report["fireChanges"]}
    assert "mql_fit_and_engagement" in changed
    for hist in report["histograms"]:
        assert sum(hist["before"]) == sum(hist["after"]) == 150

    published = await revops(PUBLISH, input={"files": files_input(candidate), "note": "lower"})
    payload = published["data"]["publishRulebook"]
    version = payload["rulebookVersion"]["version"]
    assert version == report["candidateVersion"]
    job = await finished(revops, payload["job"]["id"])
    applied = await LeadStageChange.filter(
        applied=True, evaluation__rulebook_version=version
    ).values_list("from_stage", "to_stage")
    actual = Counter((str(f), str(t)) for f, t in applied)
    assert dict(actual) == predicted
    assert job["moved"] == report["moved"]
    created = await Handoff.filter(evaluation__rulebook_version=version).count()
    assert created == job["handoffs"] == report["handoffs"]

    # Rolling back moves nobody back: the leads the candidate qualified, and their open
    # handoffs, stay — and simulate says so before anyone activates it.
    rollback = await simulate(revops, demo_files())
    assert rollback["moves"] == []
    to_mql = sum(n for (_, to), n in predicted.items() if to == "mql")
    assert rollback["stayLeads"] >= to_mql
    assert rollback["stayHandoffs"] >= created


async def test_a_bad_candidate_or_argument_is_a_user_error(gql: GraphQLClient) -> None:
    bad = await gql(SIMULATE, input={"files": files_input(demo_files(typo=True))})
    errors = bad["data"]["simulateRulebook"]["userErrors"]
    assert errors[0]["code"] == "invalid_rulebook"
    assert errors[0]["field"] == ["input", "files", "lifecycle.yaml"]
    stage = await gql(
        SIMULATE, input={"files": files_input(demo_files()), "filter": {"stages": ["nope"]}}
    )
    [error] = stage["data"]["simulateRulebook"]["userErrors"]
    assert error["field"] == ["input", "filter", "stages"]


async def test_requests_share_the_candidate_workers(
    gql: GraphQLClient, app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each request used to start (and stop) a worker process for its candidate: now the
    app's candidate pool, a worker per core (every core, as the CLI), serves every request,
    whatever the candidate."""
    await seed_demo(leads=20)
    started: list[EnginePool] = []
    real_init = EnginePool.__init__

    def counting(pool: EnginePool, *args: Any, **kwargs: Any) -> None:
        started.append(pool)
        real_init(pool, *args, **kwargs)

    monkeypatch.setattr(EnginePool, "__init__", counting)
    first = await simulate(gql, demo_files(engagement=10))
    second = await simulate(gql, demo_files(engagement=15))
    again = await simulate(gql, demo_files(engagement=10))
    assert len(started) <= 1  # none if an earlier test started the shared worker
    pids = app.state.candidates.worker_pids()
    assert len(pids) == cpu_count()
    await simulate(gql, demo_files(engagement=20))
    assert app.state.candidates.worker_pids() == pids
    assert first["leads"] == second["leads"] == again["leads"] == 20
    assert again["candidateVersion"] == first["candidateVersion"]


async def test_simulations_at_once_take_turns(
    gql: GraphQLClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Requests at the same time run one after the other on the candidate pool (each uses
    every worker; a worker holds two versions compiled), and answer as they would alone."""
    await seed_demo(leads=30)
    gates = (10, 15, 20)
    alone = [await simulate(gql, demo_files(engagement=g)) for g in gates]
    running, most = 0, 0
    real = api.simulation._batches

    async def counting(*args: Any) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        try:
            await real(*args)
        finally:
            running -= 1

    monkeypatch.setattr(api.simulation, "_batches", counting)
    together = await asyncio.gather(*(simulate(gql, demo_files(engagement=g)) for g in gates))
    assert most == 1
    keys = ("candidateVersion", "leads", "failed", "moved", "handoffs", "moves", "stayLeads")
    assert [{k: r[k] for k in keys} for r in together] == [{k: r[k] for k in keys} for r in alone]
