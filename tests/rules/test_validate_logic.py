"""(#12) Warnings: rules that load but can never fire, and feedback that can re-fire."""

from __future__ import annotations

from pathlib import Path

import pytest

from rules import load_rulebook_files
from tests.rules.conftest import DEMO

WARNINGS = Path(__file__).parent / "warnings"

# file → (line, column, message fragment)
EXPECTED: dict[str, tuple[int, int, str]] = {
    "activity_required_and_forbidden.yaml": (14, 11, "contradicts `at least 1 demo_request"),
    "eq_fails_regex.yaml": (14, 11, "contradicts `lead.title eq 'Intern'`"),
    "eq_not_in_list.yaml": (14, 11, "`lead.country in [DE, FR]` contradicts"),
    "exists_and_missing.yaml": (14, 11, "`lead.title missing` contradicts `lead.title exists`"),
    "feedback_refires.yaml": (8, 5, "lasts 7 days, less than the 30-day feedback window"),
    "range_contradiction.yaml": (14, 11, "`account.employee_count lt 200` contradicts"),
    "strict_edge.yaml": (14, 11, "lte 200` contradicts `account.employee_count gt 200`"),
}

HEAD = "scores:\n  fit: {cap: 100}\nstages: {order: [new, mql], initial: new, manual: [mql]}\n"


def test_catalogue_is_complete() -> None:
    assert {p.name for p in WARNINGS.glob("*.yaml")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_warning_is_located(name: str) -> None:
    line, column, fragment = EXPECTED[name]
    book = load_rulebook_files({name: (WARNINGS / name).read_bytes()})
    assert len(book.warnings) == 1, book.warnings
    (warning,) = book.warnings
    assert (warning.file, warning.line, warning.column) == (name, line, column), str(warning)
    assert fragment in warning.message, str(warning)
    assert warning.suggestion


@pytest.mark.parametrize(
    "tests",
    [
        ["{field: account.employee_count, gte: 200}", "{field: account.employee_count, lte: 200}"],
        ["{field: lead.country, in: [US, CA]}", "{field: lead.country, ne: US}"],
        ["{field: lead.title, exists: true}", '{field: lead.title, matches: ".*vp.*"}'],
        [
            "activity: {type: demo_request, at_least: 2, within_days: 7}",
            "not: {activity: {type: demo_request, at_least: 3, within_days: 7}}",
        ],
    ],
)
def test_satisfiable_pairs_do_not_warn(tests: list[str]) -> None:
    items = "".join(f"        - {t}\n" for t in tests)
    text = (
        HEAD
        + f"signals:\n  - name: s\n    score: fit\n    points: 1\n    when:\n      all:\n{items}"
    )
    assert load_rulebook_files({"r.yaml": text}).warnings == ()


def test_demo_has_no_warnings() -> None:
    files = {p.name: p.read_bytes() for p in DEMO.glob("*.yaml")}
    assert load_rulebook_files(files).warnings == ()
