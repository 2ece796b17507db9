"""Pair batches (rules/pair.py): both versions' brief decisions in one round trip per worker,
equal to two brief batches, facts built once when both versions build the same."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rules import EngineCrashed, EnginePool, EngineTimeout, EvaluationInput, Rulebook
from rules.brief import BriefOutcome, BriefResult
from rules.errors import RulesError
from rules.evaluator import Evaluator
from rules.loader import load_rulebook_files
from rules.record import PackedInput, Rows, input_of, micros
from tests.rules.wrapper_leads import DEMO_TYPES, leads

DEMO = Path(__file__).resolve().parents[2] / "rules" / "demo"


def _book(old: str, new: str) -> Rulebook:
    files = {p.name: p.read_text("utf-8") for p in sorted(DEMO.glob("*.yaml"))}
    assert old in files["lifecycle.yaml"]
    files["lifecycle.yaml"] = files["lifecycle.yaml"].replace(old, new, 1)
    return load_rulebook_files(files, root="<candidate>")


@pytest.fixture(scope="module")
def gate_20() -> Rulebook:
    """The demo rulebook with the engagement gate at 20: the same facts."""
    return _book("{field: scores.engagement, gte: 30}", "{field: scores.engagement, gte: 20}")


@pytest.fixture(scope="module")
def window_45() -> Rulebook:
    """The demo rulebook with a demo-request window of 45 days: other facts."""
    return _book(
        "- activity: {type: demo_request, within_days: 30}",
        "- activity: {type: demo_request, within_days: 45}",
    )


def rows_of(inp: EvaluationInput) -> Rows:
    """The record form (rules/record.py) of an input, as api.bulk_read reads it."""
    now = micros(inp.now)
    lead = inp.lead.model_dump()
    lead["created_at"] = micros(lead["created_at"]) if lead["created_at"] else None
    return (
        tuple(lead.values()),
        tuple(inp.account.model_dump().values()),
        [(a.type, now - micros(a.occurred_at)) for a in inp.activities],
        [a.model_dump(mode="json") for a in inp.adjustments],
        now,
    )


@pytest.fixture(scope="module")
def inputs() -> list[EvaluationInput]:
    return leads(160, 11, DEMO_TYPES)


@pytest.fixture(scope="module")
def pool(demo_book: Rulebook) -> Iterator[EnginePool]:
    with EnginePool(demo_book, workers=2, timeout=3) as p:
        yield p


def _same(a: BriefOutcome | None, b: BriefOutcome | None) -> bool:
    if isinstance(a, RulesError) or isinstance(b, RulesError):
        return type(a) is type(b) and str(a) == str(b)
    return a == b


def test_the_record_form_rebuilds_the_inputs(inputs: list[EvaluationInput]) -> None:
    assert [input_of(rows_of(i), i.reps) for i in inputs] == inputs


@pytest.mark.parametrize("candidate", ["gate_20", "window_45", "demo"])
def test_pairs_equal_two_brief_batches(
    pool: EnginePool,
    demo_book: Rulebook,
    inputs: list[EvaluationInput],
    candidate: str,
    request: pytest.FixtureRequest,
) -> None:
    after_book = demo_book if candidate == "demo" else request.getfixturevalue(candidate)
    before = pool.evaluate_brief_sync(inputs, rulebook=demo_book)
    after = pool.evaluate_brief_sync(inputs, rulebook=after_book)
    both = [i % 7 != 3 for i in range(len(inputs))]
    packed = [PackedInput(rows_of(i), i.reps) for i in inputs]
    pairs = pool.evaluate_pairs_sync(packed, both, before=demo_book, after=after_book)
    assert len(pairs) == len(inputs)
    for i, (b, a) in enumerate(pairs):
        assert _same(b, before[i] if both[i] else None), i
        assert _same(a, after[i]), i
    assert sum(isinstance(a, BriefResult) for _, a in pairs) == len(inputs)
    if candidate != "demo":  # the candidate changes something
        assert any(not _same(b, a) for b, a in pairs if b is not None)


def test_fact_key_says_when_facts_are_shared(
    demo_book: Rulebook, gate_20: Rulebook, window_45: Rulebook
) -> None:
    with Evaluator(demo_book) as demo, Evaluator(gate_20) as gate, Evaluator(window_45) as win:
        assert demo.fact_key == gate.fact_key
        assert demo.fact_key != win.fact_key


def test_a_crash_or_hang_in_a_pair_batch_fails_only_its_lead(
    demo_book: Rulebook, gate_20: Rulebook, inputs: list[EvaluationInput]
) -> None:
    packed = [PackedInput(rows_of(i), i.reps) for i in inputs[:10]]
    with EnginePool(demo_book, workers=1, timeout=1) as small:
        clean = small.evaluate_pairs_sync(packed, [True] * 10, before=demo_book, after=gate_20)
        faulty = small.evaluate_pairs_sync(
            packed, [True] * 10, before=demo_book, after=gate_20, _faults={2: "exit", 5: "hang"}
        )
    for i, pair in enumerate(faulty):
        expected: Any = {2: EngineCrashed, 5: EngineTimeout}.get(i)
        if expected is None:
            assert pair == clean[i]
        else:
            assert isinstance(pair, expected)


def test_bad_rows_fail_their_lead_for_both(demo_book: Rulebook, gate_20: Rulebook) -> None:
    good = leads(2, 3, DEMO_TYPES)
    rows = rows_of(good[0])
    lead = list(rows[0])
    lead[list(type(good[0].lead).model_fields).index("stage")] = "limbo"
    bad = PackedInput(((*lead,), *rows[1:]), good[0].reps)
    packed = [PackedInput(rows_of(i), i.reps) for i in good]
    with EnginePool(demo_book, workers=1, timeout=2) as small:
        pairs = small.evaluate_pairs_sync(
            [packed[0], bad, packed[1]], [True, True, False], before=demo_book, after=gate_20
        )
    assert all(isinstance(x, BriefResult) for x in pairs[0])
    assert all(isinstance(x, RulesError) for x in pairs[1])
    assert pairs[2][0] is None
    assert isinstance(pairs[2][1], BriefResult)


def test_versions_a_pair_job_evicted_are_sent_again(
    demo_book: Rulebook, gate_20: Rulebook, window_45: Rulebook, inputs: list[EvaluationInput]
) -> None:
    """A worker keeps two versions; the parent's mirror of them decides what to send. A pair
    job evicts a version a single-version job loaded before: that version is sent again
    (regression: single-version jobs trusted the last version they had loaded)."""
    some = inputs[:4]
    packed = [PackedInput(rows_of(i), i.reps) for i in some]
    books = (demo_book, gate_20, window_45)
    with EnginePool(demo_book, workers=1, timeout=3) as small:
        expected = {b.version: small.evaluate_brief_sync(some, rulebook=b) for b in books}
        steps: list[tuple[Rulebook, ...]] = [
            (window_45,), (demo_book, gate_20), (window_45,), (gate_20, window_45),
            (demo_book,), (window_45, demo_book), (gate_20,), (gate_20, gate_20),
        ]  # fmt: skip
        for step in steps:
            if len(step) == 1:
                got = small.evaluate_brief_sync(some, rulebook=step[0])
                want = expected[step[0].version]
                assert all(_same(a, b) for a, b in zip(got, want, strict=True))
                small.evaluate_sync(some[0], rulebook=step[0])  # the single-lead path too
                continue
            pairs = small.evaluate_pairs_sync(packed, [True] * 4, before=step[0], after=step[1])
            for (b, a), eb, ea in zip(
                pairs, expected[step[0].version], expected[step[1].version], strict=True
            ):
                assert _same(b, eb)
                assert _same(a, ea)
