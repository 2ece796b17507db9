"""Data migrations, run as an operator runs them: the tortoise command on a fresh SQLite file.

A subprocess, like tests/api/test_cli.py: migrating sets up its own ORM context.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path


def migrate(db: Path, *target: str) -> None:
    env = {**os.environ, "LEADGATE_DATABASE_URL": f"sqlite://{db}"}
    tortoise = Path(sys.executable).with_name("tortoise")
    done = subprocess.run(
        [str(tortoise), "migrate", *target],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr


AUTODETECT = """
import asyncio
from tortoise.cli.cli import tortoise_cli_context
from tortoise.migrations.autodetector import MigrationAutodetector
from api.db import tortoise_config

async def main():
    config = tortoise_config("sqlite://:memory:")
    async with tortoise_cli_context(config) as ctx:
        writers = await MigrationAutodetector(ctx.apps, config["apps"]).changes()
    print(len(writers))

asyncio.run(main())
"""


def test_the_models_match_the_migrations() -> None:
    """What `tortoise makemigrations` would write (nothing: every model change has its
    migration), without writing it."""
    done = subprocess.run(
        [sys.executable, "-c", AUTODETECT], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0"]


def test_0003_fills_stage_entry_times_from_the_existing_history(tmp_path: Path) -> None:
    db = tmp_path / "old.sqlite3"
    migrate(db, "models", "0002_metrics_activity_occurred_at_index")
    with sqlite3.connect(db) as conn:
        conn.executemany(
            "INSERT INTO lead (id, email, stage, fit_score, engagement_score, scores, "
            "properties, created_at, updated_at, version) VALUES (?, ?, ?, 0, 0, '{}', '{}', "
            "?, ?, 1)",
            [
                (1, "a@x.com", "sal", "2026-01-01 12:00:00+00:00", "2026-01-01 12:00:00+00:00"),
                (2, "b@x.com", "new", "2026-01-02 12:00:00+00:00", "2026-01-02 12:00:00+00:00"),
            ],
        )
        conn.executemany(
            "INSERT INTO lead_stage_change (id, lead_id, from_stage, to_stage, applied, "
            "changed_at) VALUES (?, 1, ?, ?, ?, ?)",
            [
                (1, "new", "mql", 1, "2026-01-03 12:00:00+00:00"),
                (2, "mql", "customer", 0, "2026-01-04 12:00:00+00:00"),  # refused
                (3, "mql", "sal", 1, "2026-01-05 12:00:00+00:00"),
            ],
        )
    migrate(db)
    with sqlite3.connect(db) as conn:
        changes = conn.execute(
            "SELECT id, entered_from_at FROM lead_stage_change ORDER BY id"
        ).fetchall()
        leads = conn.execute("SELECT id, stage_entered_at FROM lead ORDER BY id").fetchall()
    assert changes == [
        (1, "2026-01-01 12:00:00+00:00"),  # the lead's creation
        (2, "2026-01-03 12:00:00+00:00"),
        (3, "2026-01-03 12:00:00+00:00"),  # a refused change moved nothing
    ]
    assert leads == [(1, "2026-01-05 12:00:00+00:00"), (2, None)]


def test_0005_points_leads_at_their_newest_evaluation_and_drops_stored_why_not(
    tmp_path: Path,
) -> None:
    db = tmp_path / "old.sqlite3"
    migrate(db, "models", "0004_lead_score_order_indexes")
    with sqlite3.connect(db) as conn:
        conn.executemany(
            "INSERT INTO lead (id, email, stage, fit_score, engagement_score, scores, "
            "properties, created_at, updated_at, version) VALUES (?, ?, 'new', 0, 0, '{}', '{}', "
            "'2026-01-01 12:00:00+00:00', '2026-01-01 12:00:00+00:00', 1)",
            [(1, "a@x.com"), (2, "b@x.com")],
        )
        conn.executemany(
            "INSERT INTO evaluation (id, lead_id, rulebook_version, trigger, input, fired, "
            "contributions, failed, scores, stage_before, stage_after, outcome, duration_ms, "
            "created_at) VALUES (?, 1, 'v', 'api', '{}', '[]', '[]', '[{\"rule\": \"r\"}]', "
            "'{}', 'new', 'new', '{}', 1.0, '2026-01-02 12:00:00+00:00')",
            [(1,), (2,)],
        )
    migrate(db)
    with sqlite3.connect(db) as conn:
        leads = conn.execute("SELECT id, last_evaluation_id FROM lead ORDER BY id").fetchall()
        columns = {row[1] for row in conn.execute("PRAGMA table_info(evaluation)")}
    assert leads == [(1, 2), (2, None)]
    assert "failed" not in columns
    assert "next_change_at" in columns
