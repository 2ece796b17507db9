"""Evaluation records: compact, replayable, "why not" on demand equal to evaluation time."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette

from api.bulk import all_lead_ids, evaluate_leads
from api.demo import seed_demo
from api.engine import RulesEngine
from api.evaluations import (
    Explainers,
    pack_input,
    pack_result,
    stored_result,
    unpack_input,
    why_not,
)
from api.models import Activity, Evaluation, Lead, RulebookVersion
from api.rulebook_versions import bootstrap
from rules import EvaluationInput, Evaluator, RepData, WhyNot, load_rulebook_files
from tests.api.rulebook_data import parsing_threads
from tests.api.test_bulk import hot_leads
from tests.conftest import GraphQLClient
from tests.rules.test_explainer import _demo_evaluator, inputs
from tests.schema.test_qualification import EVALUATE, create_vp

REPS = [
    {"rep_id": "7", "name": "Ana", "territory": "NA", "segments": ["enterprise"], "capacity": 5},
    {"rep_id": "8", "territory": "EMEA", "capacity": 0, "open_handoffs": 0, "active": False},
    # issue 16: a calendar of their own and an absence survive the compact form
    {
        "rep_id": "9",
        "name": "Eve",
        "territory": "NA",
        "segments": ["mid_market"],
        "capacity": 3,
        "time_zone": "America/Chicago",
        "working_hours": {"mon-fri": ["08:00-16:00"]},
        "holiday_country": "US",
        "out_of_office": [
            {"starts_at": "2026-01-01T00:00:00Z", "ends_at": "2026-01-20T08:30:00Z", "note": "x"}
        ],
    },
]
_WHY_NOT: dict[str, WhyNot] = {}


def _json_round_trip(data: Any) -> Any:
    return json.loads(json.dumps(data, ensure_ascii=False))


class _Row:
    """What the database gives back for a record (JSON columns round-tripped)."""

    def __init__(self, inp: EvaluationInput, routed: bool, **columns: Any) -> None:
        packed = _json_round_trip(pack_result(columns.pop("result")))
        self.input = _json_round_trip(pack_input(inp, routed=routed))
        self.fired, self.contributions = packed["fired"], packed["contributions"]
        self.scores, self.outcome = packed["scores"], packed["outcome"]
        for key, value in columns.items():
            setattr(self, key, value)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inp=inputs(), micro=st.integers(0, 999_999))
def test_why_not_on_demand_equals_evaluation_time(inp: EvaluationInput, micro: int) -> None:
    """Stored compactly, read back, replayed without the engine: the same failed conditions,
    the same decision. Odd microseconds check that timestamps survive exactly."""
    reps = [RepData.model_validate(r) for r in REPS]
    inp = inp.model_copy(update={"now": inp.now + timedelta(microseconds=micro), "reps": reps})
    evaluator = _demo_evaluator()
    at_evaluation = evaluator.evaluate(inp, explain=True)
    final = at_evaluation.stage.to_stage or at_evaluation.stage.from_stage
    routed = final == evaluator.book.stages.handoff  # as api.outcomes stores it
    row = _Row(
        inp,
        routed,
        result=at_evaluation,
        rulebook_version=at_evaluation.rulebook_version,
        duration_ms=at_evaluation.duration_ms,
        next_change_at=at_evaluation.next_change_at,
    )
    stored = stored_result(row)  # type: ignore[arg-type]
    assert stored == at_evaluation.model_copy(update={"not_fired": []})
    replayed = unpack_input(row.input)
    why = _WHY_NOT.setdefault("demo", WhyNot(evaluator.book))
    on_demand = why.not_fired(
        replayed,
        fired=set(stored.fired_names),
        scores={n: s.value for n, s in stored.scores.items()},
    )
    assert on_demand == at_evaluation.not_fired
    # The stored input decides exactly as the original did (reps are kept when routed).
    again = evaluator.evaluate(replayed, explain=False)
    assert again.fired == at_evaluation.fired
    assert again.scores == at_evaluation.scores
    if routed:
        assert replayed == inp.model_copy(
            update={"activities": [a.model_copy(update={"properties": {}}) for a in inp.activities]}
        )


def test_legacy_rows_read_as_before() -> None:
    """Rows written before the compact form (full input, dict columns) still read."""
    full = {
        "lead": {"email": "a@b.io", "stage": "new"},
        "account": {},
        "activities": [{"type": "page_view", "occurred_at": "2026-01-01T00:00:00Z"}],
        "adjustments": [],
        "reps": [],
        "now": "2026-01-02T00:00:00Z",
    }
    assert unpack_input(full).activities[0].type == "page_view"


def test_sla_rows_before_the_business_clock_read_as_wall_clock() -> None:
    """Rows written before issue 16 pack the SLA as four items; newer ones add the clock and
    the queued start only when they differ from the wall clock now."""
    evaluator = _demo_evaluator()
    reps = [RepData.model_validate(r) for r in REPS]
    inp = EvaluationInput.model_validate(
        {"lead": {"email": "a@b.io", "country": "US", "stage": "mql"},
         "account": {"employee_count": 300}, "reps": reps, "now": "2026-01-15T15:00:00Z"}
    )  # fmt: skip
    result = evaluator.evaluate(inp, explain=False)
    assert result.sla is not None
    assert (result.sla.clock, result.routing.rep_id) == ("business", "7")
    assert "Eve out of office until Tue 20 Jan 08:00 CST" in result.routing.why
    row = _Row(inp, True, result=result, rulebook_version="v", duration_ms=1.0,
               next_change_at=None)  # fmt: skip
    assert len(row.outcome["sla"]) == 6
    assert stored_result(row).sla == result.sla  # type: ignore[arg-type]
    row.outcome["sla"] = row.outcome["sla"][:4]
    old = stored_result(row).sla  # type: ignore[arg-type]
    assert old is not None
    assert (old.clock, old.deadline, old.starts_at) == ("wall", result.sla.deadline, None)


async def test_demo_records_are_small_and_explain_on_demand(app: Starlette) -> None:
    """On the demo data an evaluation row stays under 2 KB, and the GraphQL-facing replay
    gives each stored record its failed conditions."""
    engine: RulesEngine = app.state.engine
    await bootstrap(rules_dir=app.state.settings.rules_dir)
    await seed_demo(leads=150, anchor=datetime(2026, 11, 27, tzinfo=UTC).date())
    summary = await evaluate_leads(engine=engine, lead_ids=await all_lead_ids())
    assert summary.recorded == 150
    rows = await Evaluation.all()
    sizes = [
        sum(
            len(json.dumps(getattr(r, col), ensure_ascii=False).encode())
            for col in ("input", "fired", "contributions", "scores", "outcome")
        )
        + 120  # fixed-width columns: ids, version, trigger, stages, times, duration
        for r in rows
    ]
    assert sum(sizes) / len(sizes) <= 2048, (sum(sizes) / len(sizes), max(sizes))
    assert max(sizes) <= 6144, max(sizes)  # a routed record carries the reps it chose among
    explained = [await why_not(r, engine.explainers) for r in rows[:20]]
    assert all(explained)
    assert all(n.failed for e in explained for n in e)


async def test_why_not_replays_on_the_stored_version_not_the_current_one(
    app: Starlette,
) -> None:
    """A record made under another rulebook version is explained with that version's rules."""
    engine: RulesEngine = app.state.engine
    old_files = {"rules.yaml": OLD_RULEBOOK.decode()}
    old = load_rulebook_files(old_files)
    await RulebookVersion.create(version=old.version, files=old_files)
    [lead_id] = await hot_leads(1)
    evaluator = _demo_evaluator()
    inp = EvaluationInput.model_validate(
        {"lead": {"email": "x@y.io"}, "now": datetime(2026, 1, 1, tzinfo=UTC)}
    )
    with Evaluator(old) as old_evaluator:
        result = old_evaluator.evaluate(inp)
    row = await Evaluation.create(
        lead_id=lead_id,
        rulebook_version=old.version,
        trigger="api",
        input=pack_input(inp, routed=False),
        **pack_result(result),
        stage_before="new",
        stage_after="new",
        duration_ms=1.0,
    )
    explained = await why_not(row, engine.explainers)
    assert [e.rule for e in explained] == ["only_rule"]
    assert explained == result.not_fired
    assert evaluator.version != old.version


async def test_replaying_another_version_never_parses_on_the_event_loop(
    app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Loading a version for "why not" takes seconds on a large rulebook: it must not stall
    every request in flight, so it is thawed or parsed off the loop (and stored thawed)."""
    explainers = Explainers()  # not the app's: another test may have loaded this version
    old_files = {"rules.yaml": OLD_RULEBOOK.decode()}
    old = load_rulebook_files(old_files)
    await RulebookVersion.create(version=old.version, files=old_files)  # no parsed form yet
    [lead_id] = await hot_leads(1)
    inp = EvaluationInput.model_validate(
        {"lead": {"email": "x@y.io"}, "now": datetime(2026, 1, 1, tzinfo=UTC)}
    )
    with Evaluator(old) as old_evaluator:
        result = old_evaluator.evaluate(inp)
    row = await Evaluation.create(
        lead_id=lead_id, rulebook_version=old.version, trigger="api",
        input=pack_input(inp, routed=False), **pack_result(result),
        stage_before="new", stage_after="new", duration_ms=1.0,
    )  # fmt: skip
    parsed_on = parsing_threads(monkeypatch)
    assert await why_not(row, explainers) == result.not_fired
    assert parsed_on, "the version was not loaded"
    assert threading.get_ident() not in parsed_on
    stored = await RulebookVersion.get(version=old.version)
    assert stored.parsed is not None  # the next process thaws it instead of parsing


OLD_RULEBOOK = b"""
scores:
  fit: {cap: 100}
stages:
  order: [new, engaged, mql, sal]
  side: [recycled]
  initial: new
  manual: [engaged, mql, sal, recycled]
signals:
  - name: only_rule
    score: fit
    points: 5
    when: {field: lead.country, eq: US}
"""


async def test_graphql_report_explains_stored_records_like_a_dry_run(
    gql: GraphQLClient, app: Starlette
) -> None:
    """The stored record's `report { headline notFired }` (replayed on demand) equals what the
    dry run computed at evaluation time, and a same-decision re-evaluation appends no row."""
    await bootstrap(rules_dir=app.state.settings.rules_dir)
    lead = await create_vp(gql)  # upsert evaluates and records the first decision
    stored = await Lead.get(email="vp@bigcorp.com")
    assert await Evaluation.filter(lead_id=stored.id).count() == 1
    dry = (await gql(EVALUATE, input={"leadId": lead["id"], "dryRun": True}))["data"]
    real = (await gql(EVALUATE, input={"leadId": lead["id"]}))["data"]
    assert real["evaluateLead"]["userErrors"] == []
    assert real["evaluateLead"]["report"] == dry["evaluateLead"]["report"]
    assert real["evaluateLead"]["report"]["notFired"]
    # nothing changed: no new row, the lead's evaluation time moved in place
    assert await Evaluation.filter(lead_id=stored.id).count() == 1
    after = await Lead.get(id=stored.id)
    assert after.evaluated_at is not None
    assert stored.evaluated_at is not None
    assert after.evaluated_at > stored.evaluated_at
    assert after.last_evaluation_id == (await Evaluation.get(lead_id=stored.id)).id
    # a new fact that changes the decision appends a row
    await Activity.create(
        lead_id=stored.id, type="demo_request", occurred_at=datetime.now(UTC) - timedelta(hours=1)
    )
    await gql(EVALUATE, input={"leadId": lead["id"]})
    assert await Evaluation.filter(lead_id=stored.id).count() == 2
