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
    "regex_multiple_repeat.yaml": (
        11,
        11,
        "regex does not compile (RE2 syntax): bad repetition operator",
        None,
    ),
    "regex_bad_range.yaml": (
        11,
        11,
        "regex does not compile (RE2 syntax): invalid character class range",
        None,
    ),
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
    "unreachable_stage.yaml": (4, 21, "stage `sql` is unreachable", "manual"),
    "wrong_type_points.yaml": (10, 13, "'ten' is not of type 'number'", None),
    "yaml_syntax.yaml": (10, 4, "YAML error", None),
    # (#12) accepted by `check` before, or located badly: numbers out of their documented range
    "activity_at_least_huge.yaml": (
        11,
        50,
        "100000 is greater than the maximum of 1000",
        "1 ≤ value ≤ 1,000",
    ),
    "activity_within_huge.yaml": (11, 56, "greater than the maximum of 3650", "0 < value ≤ 3,650"),
    "activity_within_negative.yaml": (
        11,
        56,
        "-3 is less than or equal to the minimum of 0",
        "0 < value",
    ),
    "cap_huge.yaml": (
        2,
        14,
        "greater than the maximum of 1000000 in `scores.fit.cap`",
        "0 < value",
    ),
    "feedback_at_least_huge.yaml": (11, 15, "in `feedback.at_least`", "1 ≤ value ≤ 10,000"),
    "feedback_delta_huge.yaml": (13, 33, "in `feedback.adjust.delta`", "-1,000,000 ≤ value"),
    "feedback_duration_huge.yaml": (13, 53, "in `feedback.adjust.duration_days`", "value ≤ 3,650"),
    "feedback_within_huge.yaml": (12, 18, "10000000 is greater than the maximum of 3650", "3,650"),
    "floor_huge.yaml": (2, 26, "less than the minimum of -1000000 in `scores.fit.floor`", None),
    "half_life_huge.yaml": (2, 42, "in `scores.engagement.half_life_days`", "value ≤ 3,650"),
    "max_count_huge.yaml": (12, 16, "in `signals.max_count`", "1 ≤ value ≤ 1,000"),
    "points_huge.yaml": (10, 13, "1000000000000 is greater than the maximum", "≤ 1,000,000"),
    "sequence_in_last_huge.yaml": (11, 99, "in `signals.when.sequence.in_last_days`", "3,650"),
    "sequence_within_huge.yaml": (11, 82, "in `signals.when.sequence.within_days`", "3,650"),
    "sla_hours_huge.yaml": (9, 9, "1000000000000 is greater than the maximum of 8760", "8,760"),
    "sla_hours_zero.yaml": (9, 9, "0 is less than or equal to the minimum of 0", "0 < value"),
    # (#12) NaN and infinities
    "inf_lt.yaml": (11, 47, "`-.inf` is not a number a rule can use", "write a number"),
    "inf_sla_hours.yaml": (9, 9, "`.inf` is not a number a rule can use", None),
    "nan_gte.yaml": (11, 48, "`.nan` is not a number a rule can use", None),
    "nan_points.yaml": (10, 13, "`.nan` is not a number a rule can use", None),
    # (#12) regexes RE2 cannot run in linear time
    "regex_backreference.yaml": (11, 11, "(RE2 syntax): invalid escape sequence: \\1", None),
    "regex_lookahead.yaml": (11, 11, "(RE2 syntax): invalid perl operator: (?=", None),
    # (#12) rulebooks that do nothing or miss their lifecycle
    "empty_rulebook.yaml": (1, 1, "the rulebook is empty", "demo rulebook"),
    "missing_stages.yaml": (1, 1, "`stages` is missing", "add `stages:"),
    # (#12) stage values blamed where they are written
    "handoff_unknown.yaml": (7, 12, "unknown stage `mq`", "did you mean `mql`?"),
    "initial_unknown.yaml": (5, 12, "unknown stage `nwe`", "did you mean `new`?"),
    "manual_unknown.yaml": (6, 17, "unknown stage `sqll`", "valid stages: new, mql"),
    "stage_listed_twice.yaml": (4, 21, "stage `new` is listed twice", None),
    # (#12) routes shadowed by an earlier unconditional route with a wider pool
    "route_shadowed_by_anyone.yaml": (13, 7, "`anyone` always wins", "move `na_smb` above"),
    "route_shadowed_narrower.yaml": (13, 7, "`north_america` always wins", "move `na_enterprise`"),
    # (#12) limits, located at the rule or value that crosses them
    "deep_nesting.yaml": (49, 81, "nested deeper than 40 levels", "flatten"),
    "in_list_too_long.yaml": (11, 33, "`in` list of 600 values", "split the list"),
    "in_list_block.yaml": (
        13,
        7,
        "`in` list of 600 values; one engine pattern holds at most 200",
        None,
    ),
    "tests_too_many.yaml": (12, 7, "more than 200 tests in one engine node", None),
    "missing_brace.yaml": (11, 11, "this `{` is never closed", "close it with `}` on line 11"),
    "missing_cap.yaml": (2, 3, "missing required key `cap` in `scores.fit`", None),
}


def test_catalogue_is_complete() -> None:
    files = {p.name for p in BROKEN.glob("*.yaml")}
    assert files == set(EXPECTED)
    assert len(files) >= 38 + 30  # #12 added 30+ cases accepted or mislocated before


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
