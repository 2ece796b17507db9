"""evaluateLead's payload: the headline of the record it just wrote comes from the evaluation
at hand, and reads exactly as a replay of the stored record does."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.applications import Starlette

from api.evaluations import why_not, why_not_now
from api.models import Evaluation, Lead
from schema.headlines import HEADLINES
from tests.conftest import GraphQLClient
from tests.schema.test_qualification import EVALUATE, create_vp

LEAN = "mutation($id: ID!) { evaluateLead(input: {leadId: $id}) { evaluation { id } } }"
STORED = "query($id: ID!) { node(id: $id) { ... on Evaluation { report { headline } } } }"


async def test_a_new_records_headline_is_not_replayed_and_equals_the_replay(
    gql: GraphQLClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    lead = await create_vp(gql)
    await Lead.all().update(decision="")  # no decision in force: evaluateLead records one
    before = await Evaluation.all().count()
    replayed: list[Any] = []
    replay = why_not

    async def counted(*args: Any, **kwargs: Any) -> Any:
        replayed.append(args)
        return await replay(*args, **kwargs)

    monkeypatch.setattr("schema.evaluations.replay_why_not", counted)
    HEADLINES.clear()
    body = await gql(EVALUATE, input={"leadId": lead["id"]})
    payload = body["data"]["evaluateLead"]
    assert payload["userErrors"] == []
    assert await Evaluation.all().count() == before + 1
    headline = payload["report"]["headline"]
    assert headline.startswith("Not mql yet: closest is rule mql_fit_and_engagement (")
    assert replayed == []  # the payload's headline and "why not" came from the evaluation

    HEADLINES.clear()
    stored = await gql(STORED, id=payload["evaluation"]["id"])
    assert stored["data"]["node"]["report"]["headline"] == headline
    assert len(replayed) == 1  # the stored record's report replays, and says the same


async def _engine_calls(app: Starlette, monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether each engine call asked for "why not" (the engine's default: yes)."""
    engine = app.state.engine
    evaluate = engine.evaluate
    explained: list[bool] = []

    async def counted(fact_input: Any, **kwargs: Any) -> Any:
        explained.append(kwargs.get("explain", True))
        return await evaluate(fact_input, **kwargs)

    monkeypatch.setattr(engine, "evaluate", counted)
    return explained


async def test_evaluate_lead_asks_the_engine_for_no_why_not(
    gql: GraphQLClient, app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine's explainer was two thirds of its time, and most answers show a remembered
    headline or no report: evaluateLead computes "why not" only when its answer shows it."""
    lead = await create_vp(gql)
    explained = await _engine_calls(app, monkeypatch)
    computed: list[Any] = []
    now = why_not_now

    async def counted(*args: Any, **kwargs: Any) -> Any:
        computed.append(kwargs.get("only"))
        return await now(*args, **kwargs)

    monkeypatch.setattr("schema.qualification.why_not_now", counted)
    await Lead.all().update(decision="")  # a new record each time
    body = await gql(LEAN, id=lead["id"])
    assert body["data"]["evaluateLead"]["evaluation"]["id"]
    assert explained
    assert not any(explained)
    assert computed == []  # no report asked for: nothing explained at all

    await Lead.all().update(decision="")
    body = await gql(EVALUATE, input={"leadId": lead["id"]})
    assert body["data"]["evaluateLead"]["report"]["notFired"]
    assert not any(explained)
    assert computed  # from the evaluation at hand, once per report at most
    assert len(computed) <= 2

    explained.clear()
    await gql(EVALUATE, input={"leadId": lead["id"], "dryRun": True})
    assert explained
    assert all(explained)


async def test_a_new_records_why_not_equals_the_engines(
    gql: GraphQLClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ "Why not" computed from the evaluation at hand is the engine's own (a dry run's), for a
    lead short of the handoff stage and one that reaches it."""
    for email in ("vp@bigcorp.com", "vp@smallco.io"):
        lead = await create_vp(gql, email)
        dry = await gql(EVALUATE, input={"leadId": lead["id"], "dryRun": True})
        await Lead.all().update(decision="")
        HEADLINES.clear()
        wet = await gql(EVALUATE, input={"leadId": lead["id"]})
        expected, got = dry["data"]["evaluateLead"], wet["data"]["evaluateLead"]
        assert got["evaluation"]["id"]
        assert not got["userErrors"]
        assert got["report"] == expected["report"]
        assert got["report"]["notFired"]
