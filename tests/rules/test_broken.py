"""A catalogue of broken rule files, each rejected with the right location and message."""

from __future__ import annotations

from pathlib import Path

import pytest

from rules import RulebookInvalid, load_rulebook_files

BROKEN = Path(__file__).parent / "broken"

# file → (line, column, message fragment, suggestion fragment or None)
EXPECTED: dict[str, tuple[int, int, str, str | None]] = {
    "backward_jump.yaml": (8, 5, "backward jump mql → engaged", "recycle or disqualify"),
    "bad_name.yaml": (8, 11, "invalid name 'Big Company'", "lower_snake_case"),
    "bad_regex.yaml": (11, 11, "regex does not compile", None),
    "comparison_two_ops.yaml": (11, 11, "exactly one operator, found 2", "valid operators"),
    "condition_two_kinds.yaml": (12, 7, "exactly one of", "split into"),
    "duplicate_rule.yaml": (11, 5, "duplicate rule name `big_company`", "first defined at"),
    "duplicate_yaml_key.yaml": (10, 5, 'duplicate key "score"', None),
    "empty_in.yaml": (11, 11, "empty `in` list", None),
    "enum_feedback_type.yaml": (9, 11, "invalid value 'rejectd'", "did you mean `rejected`?"),
    "example_unknown_rule.yaml": (13, 5, "unknown rule `us_leads`", "valid rules: us"),
    "feedback_delta_bound.yaml": (8, 5, "delta -150 exceeds the bound ±100", "adjustment_bound"),
    "ignore_case_without_matches.yaml": (11, 41, "`ignore_case` only applies", None),
    "missing_required.yaml": (8, 5, "missing required key `points`", None),
    "not_sequence.yaml": (13, 19, "`not` over a sequence", "negate the single activities"),
    "number_out_of_range.yaml": (11, 11, "out of the engine's range", "scale"),
    "operator_wrong_type.yaml": (11, 11, "operator `gt` does not apply to string", "matches"),
    "per_activity_without_activity.yaml": (8, 5, "`per_activity` needs exactly one", None),
    "regex_multiple_repeat.yaml": (11, 11, "regex does not compile: multiple repeat", None),
    "regex_bad_range.yaml": (11, 11, "regex does not compile: bad character range", None),
    "route_shadowed.yaml": (13, 7, "can assign nobody: `everyone` always wins", None),
    "route_unknown_segment.yaml": (11, 7, "segment `mid_market` is not declared", "smb"),
    "route_unknown_territory.yaml": (11, 7, "territory `APAC` is not declared", "NA, EMEA"),
    "signal_uses_scores.yaml": (11, 11, "signals cannot test scores", "qualification"),
    "sla_unknown_priority.yaml": (10, 7, "unknown priority `p0`", "p1, p2"),
    "too_many_branches.yaml": (12, 7, "more than 16 engine rules", None),
    "too_many_rules.yaml": (12, 7, "would match 61 distinct patterns", "fewer windows"),
    "type_mismatch_number.yaml": (14, 11, "`lead.country` is a string, 12 is a number", "quote"),
    "type_mismatch_string.yaml": (11, 11, "is a number, 'ten' is a string", "remove the quotes"),
    "unknown_activity_type.yaml": (11, 22, "unknown activity type", "`demo_request`"),
    "unknown_field.yaml": (11, 11, "unknown field `account.employe_count`", "employee_count"),
    "unknown_operator.yaml": (11, 43, "unknown operator or key `gte_`", "did you mean `gte`?"),
    "unknown_reason.yaml": (11, 5, "unknown disqualify reason `competitr`", "spam"),
    "unknown_score.yaml": (8, 5, "unknown score `fitt`", "did you mean `fit`?"),
    "unknown_section.yaml": (7, 1, "unknown key `signal`", "did you mean `signals`?"),
    "unknown_stage_to.yaml": (8, 5, "unknown stage `mqll`", "did you mean `mql`?"),
    "unreachable_stage.yaml": (4, 3, "stage `sql` is unreachable", "manual"),
    "wrong_type_points.yaml": (10, 13, "'ten' is not of type 'number'", None),
    "yaml_syntax.yaml": (10, 4, "YAML error", None),
}


def test_catalogue_is_complete() -> None:
    files = {p.name for p in BROKEN.glob("*.yaml")}
    assert files == set(EXPECTED)
    assert len(files) >= 30


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_broken_file_is_rejected_with_location(name: str) -> None:
    line, column, fragment, hint = EXPECTED[name]
    with pytest.raises(RulebookInvalid) as info:
        load_rulebook_files({name: (BROKEN / name).read_bytes()})
    first = info.value.errors[0]
    assert (first.file, first.line, first.column) == (name, line, column), str(first)
    assert fragment in first.message, str(first)
    if hint is not None:
        assert first.suggestion is not None, str(first)
        assert hint in first.suggestion, str(first)
    assert str(first).startswith(f"{name}:{line}:{column}: ")
