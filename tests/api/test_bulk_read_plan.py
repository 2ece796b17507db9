"""A batch's activities are read by lead id whatever SQLite's planner statistics say."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from starlette.applications import Starlette

from api.bulk_read import connection, is_postgres, read_batch_packed
from api.models import Activity, Lead
from tests.api.lead_data import ANCHOR

BATCH = 200


async def _index(db: Any, first_column: str) -> str:
    """The name of the activity index whose first column is ``first_column``."""
    _, indexes = await db.execute_query("PRAGMA index_list(activity)")
    for index in indexes:
        _, columns = await db.execute_query(f"PRAGMA index_info({index['name']})")
        if columns and columns[0]["name"] == first_column:
            return str(index["name"])
    raise AssertionError(f"no activity index on {first_column}")


async def _statistics_of_a_large_table(db: Any) -> dict[str, str]:
    """``sqlite_stat1`` as ``ANALYZE`` left it on the 20,000 bench leads (170,232 activities,
    ~9 per lead): the planner reads these instead of counting this test's few rows (SQLite
    documents steering it by editing that table). Below ~1M activities, these statistics
    made it read a batch's activities through the time index."""
    await db.execute_script("ANALYZE")
    stats = {
        await _index(db, "occurred_at"): "170232 5",
        await _index(db, "lead_id"): "170232 9 1",
        await _index(db, "type"): "170232 17024 5",
    }
    await db.execute_query("DELETE FROM sqlite_stat1 WHERE tbl = 'activity'")
    for index, stat in stats.items():
        await db.execute_query(
            "INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES ('activity', ?, ?)", [index, stat]
        )
    await db.execute_script("ANALYZE sqlite_schema")  # the planner reloads the statistics
    return stats


async def test_activities_are_read_by_lead_id_after_analyze(
    app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = connection()
    if is_postgres(db):
        pytest.skip("SQLite's planner: PostgreSQL reads by lead id (its ANY array) as is")
    await Lead.bulk_create([Lead(email=f"plan{i}@example.com") for i in range(BATCH)])
    ids = [lead.id for lead in await Lead.all().order_by("id")]
    await Activity.bulk_create(
        [
            Activity(lead_id=i, type="page_view", occurred_at=ANCHOR - timedelta(days=d))
            for i in ids
            for d in (1, 5)
        ]
    )
    by_time = await _index(db, "occurred_at")
    by_lead = await _index(db, "lead_id")
    await _statistics_of_a_large_table(db)

    sent: list[tuple[str, list[Any]]] = []
    execute = db.execute_query

    async def recorded(sql: str, values: list[Any] | None = None) -> Any:
        sent.append((sql, list(values or [])))
        return await execute(sql, values)

    monkeypatch.setattr(db, "execute_query", recorded)
    _, packed = await read_batch_packed(
        ids, now=ANCHOR, lookback_days=90, campaigns={}, adjustments=[], reps=[]
    )
    monkeypatch.undo()
    assert len(packed) == BATCH  # every lead read, with its activities

    [(sql, values)] = [(s, v) for s, v in sent if "FROM activity" in s]
    _, plan = await db.execute_query(f"EXPLAIN QUERY PLAN {sql}", values)
    details = " | ".join(str(row["detail"]) for row in plan)
    assert by_lead in details, details
    assert by_time not in details, details  # a scan of every activity in the window
