"""`leadgate reps away|back|absences|hours|calendar` as an operator runs them (subprocesses on a
fresh SQLite file, like tests/api/test_admin_cli.py)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.api.test_cli import db, leadgate

__all__ = ["db"]  # the fixture, shared with test_cli


def test_out_of_office_and_working_hours_from_a_terminal(db: Path) -> None:
    made = leadgate("reps", "create", "ana@example.com", "--name", "Ana", "--territory", "NA",
                    db=db)  # fmt: skip
    assert made.returncode == 0, made.stderr
    away = leadgate("reps", "away", "ana@example.com", "--from", "2030-01-04T00:00+01:00",
                    "--until", "2030-01-11T09:00+01:00", "--note", "ski", db=db)  # fmt: skip
    assert away.returncode == 0, away.stderr
    assert away.stdout.strip() == (
        "absence 1: ana@example.com away 2030-01-03 23:00 → 2030-01-11 08:00"
    )
    listed = leadgate("reps", "absences", db=db).stdout.splitlines()
    assert listed[1].split()[:2] == ["1", "ana@example.com"]

    hours = leadgate("reps", "hours", "ana@example.com", "--time-zone", "Europe/Paris",
                     "--hours", "mon-thu=09:00-12:30,14:00-18:00", "--hours", "fri=09:00-16:00",
                     "--holidays", "FR", db=db)  # fmt: skip
    assert hours.returncode == 0, hours.stderr
    lines = hours.stdout.splitlines()
    assert lines[0].startswith("ana@example.com (NA, own calendar): Europe/Paris, holidays FR")
    assert "  mon: 09:00-12:30, 14:00-18:00" in lines
    assert "  fri: 09:00-16:00" in lines
    assert "  away 2030-01-03 23:00 → 2030-01-11 08:00 ski" in lines
    bad = leadgate("reps", "hours", "ana@example.com", "--time-zone", "Paris", db=db)
    assert bad.returncode == 1
    assert "unknown time zone `Paris`" in bad.stderr

    back = leadgate("reps", "back", "1", db=db)
    assert back.returncode == 0, back.stderr
    with sqlite3.connect(db) as conn:
        actions = [r[0] for r in conn.execute("SELECT action FROM audit_entry ORDER BY id")]
    assert actions == ["rep.create", "rep.absence.add", "rep.working_time", "rep.absence.remove"]
