"""The compiler: numbers the engine accepts, negation push-down, one engine rule per branch."""

from __future__ import annotations

import json

import pytest

from rules import Rulebook, load_rulebook_files
from rules import conditions as c
from rules.compiler import (
    CompileError,
    compile_rulebook,
    fact_field,
    normalize,
    number,
    regex_key,
)

LOC = c.NOWHERE


def cmp(field: str, op: str, value: c.Scalar | tuple[c.Scalar, ...] | None) -> c.Compare:
    return c.Compare(field, op, value, False, LOC)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(1e-05, 0), (2.5, 2.5), (3.0, 3), (1e300, 1e15), (-1e300, -1e15), (float("nan"), 0)],
)
def test_number_never_uses_exponent_form(raw: float, expected: float) -> None:
    out = number(raw)
    assert out == expected
    assert "e" not in json.dumps(out)


def test_fact_field_never_collides_with_engine_keys() -> None:
    assert fact_field("lead.country") == "lead__country"
    assert fact_field("scores.fit") not in {"id", "sid"}


def test_field_only_condition_is_one_branch() -> None:
    cond = c.AnyOf((cmp("lead.country", "eq", "US"), cmp("account.employee_count", "gt", 5)), LOC)
    [branch] = normalize(cond)
    assert branch.fields == [
        {"$or": [{"lead__country": "US"}, {"$gt": {"account__employee_count": 5}}]}
    ]


def test_negated_comparison_also_holds_when_missing() -> None:
    [branch] = normalize(c.Not(cmp("account.employee_count", "gte", 200), LOC))
    assert branch.fields == [
        {
            "$or": [
                {"$lt": {"account__employee_count": 200}},
                {"$nex": {"account__employee_count": 1}},
            ]
        }
    ]


def test_regex_is_a_precomputed_boolean_fact() -> None:
    test = cmp("lead.title", "matches", ".*vp.*")
    key = regex_key(test)
    assert normalize(test)[0].fields == [{key: True}]
    assert normalize(c.Not(test, LOC))[0].fields == [{key: False}]


def test_any_over_activities_splits_into_branches() -> None:
    a = c.ActivityCount("demo_request", 1, 7, LOC)
    b = c.ActivityCount("meeting_booked", 1, 7, LOC)
    branches = normalize(c.AllOf((cmp("lead.country", "eq", "US"), c.AnyOf((a, b), LOC)), LOC))
    assert [x.acts for x in branches] == [[a], [b]]
    assert all(x.fields == [{"lead__country": "US"}] for x in branches)


def test_not_over_sequence_is_rejected() -> None:
    seq = c.Sequence("pricing_page_view", "demo_request", 7, 7, LOC)
    with pytest.raises(CompileError, match="sequence"):
        normalize(c.Not(seq, LOC))


def test_compiled_demo_has_catch_alls_and_no_actions(demo_book: Rulebook) -> None:
    compiled = compile_rulebook(demo_book)
    assert compiled.definition["zz1"]["pri"] > 1000
    assert all("run" not in rule for rule in compiled.definition.values())
    assert compiled.phase_count(1) == len(demo_book.signals)
    json.dumps(compiled.definition)


def test_guard_defaults_to_earlier_stages() -> None:
    book = load_rulebook_files(
        {
            "r.yaml": "scores: {fit: {cap: 100}}\n"
            "stages: {order: [new, engaged, mql], initial: new}\n"
            "qualification:\n  - {name: e, to: engaged}\n  - {name: m, to: mql}\n"
        }
    )
    compiled = compile_rulebook(book)
    guard = compiled.conditions["m"]
    assert isinstance(guard, c.AllOf)
    assert guard.items[0] == c.Compare("lead.stage", "in", ("new", "engaged"), False, guard.loc)
