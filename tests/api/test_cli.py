"""The `leadgate` command as an operator runs it: a separate process on a fresh SQLite file.

A subprocess, not CliRunner: the commands set up their own ORM context, which must not
replace the one the rest of the test session runs on.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from api.settings import DEMO_RULES_DIR
from tests.conftest import copy_sqlite


def leadgate(*args: str, db: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LEADGATE_RULES_DIR": str(DEMO_RULES_DIR)}
    if db is not None:
        env["LEADGATE_DATABASE_URL"] = f"sqlite://{db}"
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def db(tmp_path: Path, migrated_sqlite: Path) -> Path:
    """A copy of the file `leadgate db migrate` made once (tests/conftest.py)."""
    return copy_sqlite(migrated_sqlite, tmp_path / "cli.sqlite3")


def test_apikey_create_prints_a_token_once_and_revoke_takes_its_prefix(db: Path) -> None:
    created = leadgate("apikey", "create", "crm sync", "--role", "integration", db=db)
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert token.startswith("lg_")
    prefix = token.split("_")[1]
    revoked = leadgate("apikey", "revoke", prefix, db=db)
    assert revoked.returncode == 0, revoked.stderr
    assert revoked.stdout.strip() == f"revoked {prefix} (crm sync, integration)"


def test_apikey_errors_exit_1_with_the_reason(db: Path) -> None:
    bound = leadgate("apikey", "create", "x", "--role", "viewer", "--rep", "a@b.co", db=db)
    assert bound.returncode == 1
    assert "only sales keys can be bound to a rep" in bound.stderr
    unknown = leadgate("apikey", "revoke", "nope", db=db)
    assert unknown.returncode == 1
    assert "no API key with prefix nope" in unknown.stderr
    bad_role = leadgate("apikey", "create", "x", "--role", "root", db=db)
    assert bad_role.returncode == 2
    assert "root" in bad_role.stderr


def test_rules_commands_are_mounted() -> None:
    result = leadgate("rules", "check", str(DEMO_RULES_DIR))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok: ")


def test_seed_then_evaluate_scores_every_lead_with_the_rulebook(db: Path) -> None:
    seeded = leadgate("demo", "seed", "--leads", "60", "--anchor", "2026-11-01", db=db)
    assert seeded.returncode == 0, seeded.stderr
    assert "evaluated 60 leads with rulebook " in seeded.stdout
    assert "0 failed" in seeded.stdout
    again = leadgate("evaluate", db=db)
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("evaluated 60 leads with rulebook ")
    assert "0 moved, 0 handed off" in again.stdout  # the same rules on the same facts
