"""(#12) Rule regexes run on RE2: catastrophic patterns are linear, RE2-only syntax is refused."""

from __future__ import annotations

import time

import pytest

from rules import Evaluator, load_rulebook_files
from rules.regex import RegexError, compile_regex, regex_problem
from tests.rules.conftest import lead_input

BOOK = """
scores:
  fit: {cap: 100}
stages: {order: [new, mql], initial: new, manual: [mql]}
signals:
  - name: backtracker
    score: fit
    points: 10
    when: {field: lead.title, matches: "(a+)+b"}
"""


def test_catastrophic_regex_evaluates_in_linear_time() -> None:
    """`(a+)+b` ran the engine into the pool's 5 s timeout with Python's re."""
    book = load_rulebook_files({"r.yaml": BOOK})
    with Evaluator(book) as ev:
        started = time.perf_counter()
        miss = ev.evaluate(lead_input(lead={"title": "a" * 5000 + "c"}), explain=True)
        elapsed = time.perf_counter() - started
        hit = ev.evaluate(lead_input(lead={"title": "a" * 5000 + "b"}), explain=False)
    assert elapsed < 1.0
    assert "backtracker" not in miss.fired_names
    assert "backtracker" in hit.fired_names


def test_ignore_case_folds_non_ascii() -> None:
    assert compile_regex("é.*", True).fullmatch("Élodie") is not None
    assert compile_regex("é.*", False).fullmatch("Élodie") is None


@pytest.mark.parametrize("pattern", [r"(a)\1", "(?=x)x", "(?<!a)b", "("])
def test_re2_refuses_what_it_cannot_run_linearly(pattern: str) -> None:
    with pytest.raises(RegexError):
        compile_regex(pattern)
    assert (regex_problem(pattern) or "").startswith("regex does not compile (RE2 syntax): ")


def test_identical_signals_count_once_and_evaluate() -> None:
    """(#12) 100 identical signals were blamed on the first one; they share one engine node."""
    signals = "".join(
        f"  - {{name: s{i}, score: fit, points: 1, when: {{field: lead.country, eq: US}}}}\n"
        for i in range(100)
    )
    head = "scores:\n  fit: {cap: 1000}\nstages: {order: [new, mql], initial: new, manual: [mql]}\n"
    book = load_rulebook_files({"r.yaml": head + "signals:\n" + signals})
    with Evaluator(book) as ev:
        result = ev.evaluate(lead_input(lead={"country": "US"}), explain=False)
    assert result.score("fit") == 100
