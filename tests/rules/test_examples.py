"""The demo rulebook's embedded examples pass through pytest (one test per example)."""

from __future__ import annotations

import pytest

from rules import Evaluator, Rulebook, load_rulebook
from rules.examples import check_example, example_input
from tests.rules.conftest import DEMO

DEMO_BOOK = load_rulebook(DEMO)


@pytest.mark.parametrize("name", [e.name for e in DEMO_BOOK.examples])
def test_demo_example(evaluator: Evaluator, demo_book: Rulebook, name: str) -> None:
    example = next(e for e in demo_book.examples if e.name == name)
    outcome = check_example(evaluator, example)
    assert outcome.passed, "\n".join(outcome.failures)


def test_demo_is_big_enough(demo_book: Rulebook) -> None:
    assert len(demo_book.rule_names()) >= 40
    sections = [demo_book.signals, demo_book.transitions, demo_book.feedback, demo_book.reasons]
    sections += [demo_book.routing.routes, demo_book.sla.rules]
    assert all(sections)
    assert len(demo_book.examples) >= 10


def test_example_input_resolves_relative_times(demo_book: Rulebook) -> None:
    example = demo_book.examples[0]
    inp = example_input(demo_book, example)
    assert inp.now.isoformat() == "2026-01-15T12:00:00+00:00"
    assert len(inp.reps) == 9
    assert inp.activities[0].occurred_at < inp.now
