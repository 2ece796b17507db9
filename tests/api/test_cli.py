"""The `leadgate` command as an operator uses it, on a fresh SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app
from api.settings import get_settings


@pytest.fixture
def fresh_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("LEADGATE_DATABASE_URL", f"sqlite://{tmp_path / 'cli.sqlite3'}")
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["db", "migrate"])
    assert result.exit_code == 0, result.output
    yield
    get_settings.cache_clear()


@pytest.mark.usefixtures("fresh_db")
def test_apikey_create_prints_a_token_once_and_revoke_takes_its_prefix() -> None:
    runner = CliRunner()
    created = runner.invoke(app, ["apikey", "create", "crm sync", "--role", "integration"])
    assert created.exit_code == 0, created.output
    token = created.output.strip()
    assert token.startswith("lg_")
    prefix = token.split("_")[1]
    revoked = runner.invoke(app, ["apikey", "revoke", prefix])
    assert revoked.exit_code == 0, revoked.output
    assert revoked.output.strip() == f"revoked {prefix} (crm sync, integration)"


@pytest.mark.usefixtures("fresh_db")
def test_apikey_errors_exit_1_with_the_reason() -> None:
    runner = CliRunner()
    bound = runner.invoke(app, ["apikey", "create", "x", "--role", "viewer", "--rep", "a@b.co"])
    assert bound.exit_code == 1
    assert "only sales keys can be bound to a rep" in bound.output
    unknown = runner.invoke(app, ["apikey", "revoke", "nope"])
    assert unknown.exit_code == 1
    assert "no API key with prefix nope" in unknown.output
    bad_role = runner.invoke(app, ["apikey", "create", "x", "--role", "root"])
    assert bad_role.exit_code == 2
    assert "root" in bad_role.output


def test_rules_commands_are_mounted() -> None:
    result = CliRunner().invoke(app, ["rules", "check", str(get_settings().rules_dir)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok: ")


@pytest.mark.usefixtures("fresh_db")
def test_evaluate_scores_every_lead_with_the_rulebook() -> None:
    runner = CliRunner()
    seeded = runner.invoke(app, ["demo", "seed", "--leads", "60", "--anchor", "2026-11-01"])
    assert seeded.exit_code == 0, seeded.output
    result = runner.invoke(app, ["evaluate"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("evaluated 60 leads with rulebook ")
    assert "0 failed" in result.output
