"""``leadgate rules check|test|explain`` through typer's CliRunner."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rules import load_rulebook
from rules.cli import app
from tests.rules.conftest import DEMO, lead_input

runner = CliRunner()


def test_check_demo() -> None:
    result = runner.invoke(app, ["check", str(DEMO)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok: ")


def test_check_defaults_to_env_or_demo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LEADGATE_RULES_DIR", raising=False)
    assert runner.invoke(app, ["check"]).exit_code == 0
    monkeypatch.setenv("LEADGATE_RULES_DIR", "/nonexistent/rules")
    result = runner.invoke(app, ["check"])
    assert result.exit_code == 2


def test_check_reports_located_errors(tmp_path: Path) -> None:
    broken = Path(__file__).parent / "broken" / "unknown_operator.yaml"
    shutil.copy(broken, tmp_path / "rules.yaml")
    result = runner.invoke(app, ["check", str(tmp_path)])
    assert result.exit_code == 1
    first = result.output.splitlines()[0]
    assert first == (
        f"{tmp_path.as_posix()}/rules.yaml:11:43: big_company: unknown operator or key `gte_` "
        "in `signals.when` (did you mean `gte`?)"
    )


def test_test_runs_examples() -> None:
    result = runner.invoke(app, ["test", str(DEMO)])
    assert result.exit_code == 0, result.output
    assert "examples.yaml::vp_at_enterprise_requests_demo PASSED" in result.output
    count = len(load_rulebook(DEMO).examples)  # the demo grows; the count comes from it
    assert result.output.strip().splitlines()[-1].startswith(f"=== {count} passed in ")


def test_test_fails_on_wrong_expectation(tmp_path: Path) -> None:
    target = tmp_path / "demo"
    shutil.copytree(DEMO, target)
    examples = target / "examples.yaml"
    examples.write_text(
        examples.read_text().replace("scores: {fit: 77,", "scores: {fit: 70,"), "utf-8"
    )
    result = runner.invoke(app, ["test", str(target)])
    assert result.exit_code == 1
    assert "vp_at_enterprise_requests_demo FAILED" in result.output
    assert "scores.fit: expected 70, got 77" in result.output
    assert f"=== 1 failed, {len(load_rulebook(DEMO).examples) - 1} passed" in result.output


@pytest.fixture
def lead_file(tmp_path: Path) -> Path:
    inp = lead_input(
        lead={"title": "Engineer", "country": "US"},
        account={"employee_count": 300, "industry": "software"},
        activities=[("page_view", 1)],
    )
    path = tmp_path / "lead.json"
    path.write_text(inp.model_dump_json(), "utf-8")
    return path


def test_explain_human(lead_file: Path) -> None:
    result = runner.invoke(app, ["explain", str(lead_file), "--rules", str(DEMO)])
    assert result.exit_code == 0, result.output
    assert "stage: stays new" in result.output
    assert "✗ mql_demo_request [qualification] fit 33 < 40; no demo_request in 30 days" in (
        result.output
    )
    assert "✓ fit_mid_market [signals] fit +18" in result.output


def test_explain_json(lead_file: Path) -> None:
    result = runner.invoke(app, ["explain", str(lead_file), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["scores"]["fit"]["value"] == 33
    assert data["stage"]["to_stage"] is None


def test_explain_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{}", "utf-8")
    assert runner.invoke(app, ["explain", str(bad)]).exit_code == 2


def test_check_prints_located_warnings(tmp_path: Path) -> None:
    """(#12) A rule that can never fire loads, and `check` says so with its location."""
    warned = Path(__file__).parent / "warnings" / "range_contradiction.yaml"
    shutil.copy(warned, tmp_path / "rules.yaml")
    result = runner.invoke(app, ["check", str(tmp_path)])
    assert result.exit_code == 0, result.output
    first, last = result.output.splitlines()[0], result.output.splitlines()[-1]
    assert first.startswith(f"{tmp_path.as_posix()}/rules.yaml:14:11: warning: mid_size: ")
    assert "can never add points" in first
    assert ", 1 warning(s)," in last


def test_explain_without_now_shows_the_near_miss_report_first(tmp_path: Path) -> None:
    """(#12) A lead file without `now` is evaluated now; the report comes before the details."""
    lead = tmp_path / "lead.json"
    lead.write_text(
        json.dumps(
            {
                "lead": {"email": "pat@acme.io", "title": "VP Marketing", "seniority": "vp"},
                "account": {"employee_count": 1500, "industry": "software"},
            }
        ),
        "utf-8",
    )
    result = runner.invoke(app, ["explain", str(lead), "--rules", str(DEMO)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("Not mql yet: closest is rule mql_fit_and_engagement (")
    assert "    → a demo_request (+30 engagement) would qualify this lead by rule " in lines[5]
    assert any(line.startswith("Why this owner: no owner") for line in lines)
    assert any(line.startswith("Why this deadline: no deadline") for line in lines)
    assert lines.index("stage: stays new") > lines.index("Why not mql:")
    pinned = runner.invoke(app, ["explain", str(lead), "--now", "2026-01-15T12:00:00", "--json"])
    assert json.loads(pinned.output)["near_miss"]["status"] == "not_qualified"


def test_check_warns_of_an_adjustment_shorter_than_its_window(tmp_path: Path) -> None:
    """#11 item 10: it would expire while its evidence still counts; check says so."""
    target = tmp_path / "demo"
    shutil.copytree(DEMO, target)
    feedback = target / "feedback.yaml"
    text = feedback.read_text()
    assert "within_days: 30\n    adjust: {score: fit, delta: -15, duration_days: 60}" in text
    feedback.write_text(
        text.replace("delta: -15, duration_days: 60", "delta: -15, duration_days: 7")
    )
    result = runner.invoke(app, ["check", str(target)])
    assert result.exit_code == 0, result.output
    assert (
        "warning: fb_too_small_smb: the adjustment lasts 7 days, less than the 30-day feedback"
        in result.output
    )
