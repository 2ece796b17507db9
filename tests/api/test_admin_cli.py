"""`leadgate reps|campaigns|apikey list` as an operator runs them (subprocesses, like
tests/api/test_cli.py), on a fresh SQLite file."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.api.test_cli import db, leadgate

__all__ = ["db"]  # the fixture, shared with test_cli


def test_the_docs_apikey_example_works_once_the_rep_exists(db: Path) -> None:
    missing = leadgate("apikey", "create", "ana", "--role", "sales", "--rep", "ana@example.com",
                       db=db)  # fmt: skip
    assert missing.returncode == 1
    assert "no sales rep" in missing.stderr
    created = leadgate("reps", "create", "Ana@Example.com", "--name", "Ana", "--territory", "NA",
                       "--segment", "enterprise", "--capacity", "3", db=db)  # fmt: skip
    assert created.returncode == 0, created.stderr
    key = leadgate("apikey", "create", "ana", "--role", "sales", "--rep", "ana@example.com", db=db)
    assert key.returncode == 0, key.stderr
    listed = leadgate("apikey", "list", db=db)
    assert listed.returncode == 0, listed.stderr
    header, row = listed.stdout.strip().splitlines()
    assert header.split()[:4] == ["prefix", "name", "role", "rep"]
    assert row.split()[1:4] == ["ana", "sales", "ana@example.com"]
    assert row.split()[0] == key.stdout.strip().split("_")[1]


def test_reps_create_list_deactivate_are_audited(db: Path) -> None:
    for email, territory in (("ana@example.com", "NA"), ("ben@example.com", "EMEA")):
        done = leadgate("reps", "create", email, "--name", email[:3], "--territory", territory,
                        db=db)  # fmt: skip
        assert done.returncode == 0, done.stderr
    dup = leadgate("reps", "create", "ana@example.com", "--name", "A", "--territory", "NA", db=db)
    assert dup.returncode == 1
    assert "exists" in dup.stderr
    off = leadgate("reps", "deactivate", "ben@example.com", db=db)
    assert off.returncode == 0, off.stderr
    assert "active=False" in off.stdout
    active = leadgate("reps", "list", db=db).stdout
    assert "ana@example.com" in active
    assert "ben@example.com" not in active
    assert "ben@example.com" in leadgate("reps", "list", "--all", db=db).stdout
    with sqlite3.connect(db) as conn:
        actions = [r[0] for r in conn.execute("SELECT action FROM audit_entry ORDER BY id")]
        actors = {r[0] for r in conn.execute("SELECT actor FROM audit_entry")}
    assert actions == ["rep.create", "rep.create", "rep.deactivate"]
    assert actors == {"cli"}


def test_campaigns_create_cost_close_and_list(db: Path) -> None:
    made = leadgate("campaigns", "create", "ads-jan", "--name", "January ads", "--channel", "paid",
                    "--starts", "2026-01-05", "--cost", "100", db=db)  # fmt: skip
    assert made.returncode == 0, made.stderr
    spent = leadgate("campaigns", "cost", "ads-jan", "250.50", "--on", "2026-02-01", db=db)
    assert spent.returncode == 0, spent.stderr
    closed = leadgate("campaigns", "close", "ads-jan", "--ends", "2026-02-28", db=db)
    assert closed.returncode == 0, closed.stderr
    assert closed.stdout.strip() == "closed campaign ads-jan on 2026-02-28"
    listed = leadgate("campaigns", "list", db=db)
    assert listed.returncode == 0, listed.stderr
    row = listed.stdout.strip().splitlines()[1]
    assert "350.50 USD" in row
    unknown = leadgate("campaigns", "cost", "nope", "1", "--on", "2026-02-01", db=db)
    assert unknown.returncode == 1
    assert "no campaign with key 'nope'" in unknown.stderr


def test_lead_export_then_erase(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute(
            "INSERT INTO lead (email, first_name, stage, fit_score, engagement_score, scores, "
            "properties, created_at, updated_at, version) VALUES ('jo.doe@acme.com', 'Jo', "
            "'new', 0, 0, '{}', ?, '2026-01-01 00:00:00+00:00', '2026-01-01 00:00:00+00:00', 1)",
            [json.dumps({"phone": "+44 20 7946 0958"})],
        )
    exported = leadgate("lead", "export", "jo.doe@acme.com", db=db)
    assert exported.returncode == 0, exported.stderr
    data = json.loads(exported.stdout)
    assert data["lead"]["properties"] == {"phone": "+44 20 7946 0958"}
    erased = leadgate("lead", "erase", "jo.doe@acme.com", "--reason", "ticket 7", db=db)
    assert erased.returncode == 0, erased.stderr
    assert erased.stdout.strip() == "erased lead 1 (now erased-1@acme.com); tombstone: yes"
    with sqlite3.connect(db) as conn:
        dump = "\n".join(conn.iterdump()).lower()
    assert "jo.doe" not in dump
    assert "7946" not in dump
    missing = leadgate("lead", "erase", "jo.doe@acme.com", "--reason", "again", db=db)
    assert missing.returncode == 1
    assert "no lead with email" in missing.stderr
