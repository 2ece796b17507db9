"""evaluateLead's payload: the headline of the record it just wrote comes from the evaluation
at hand, and reads exactly as a replay of the stored record does."""

from __future__ import annotations

from typing import Any

import pytest

from api.evaluations import why_not
from api.models import Evaluation, Lead
from schema.headlines import HEADLINES
from tests.conftest import GraphQLClient
from tests.schema.test_qualification import EVALUATE, create_vp

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
