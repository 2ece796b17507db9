"""Creating a bulk job over many leads streams their ids: one chunk of ids at a time."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest
from starlette.applications import Starlette

from api.bulk import all_lead_ids
from api.bulk_read import connection
from api.demo import seed_demo
from api.enums import LifecycleStage
from api.jobs import create_job
from api.lead_filter import LeadFilter
from api.models import BulkJobChunk, Lead
from tests.api.lead_data import ANCHOR

VERSION = "not-the-live-version"
"""The session app's in-server runner only runs jobs of the live version: it leaves these be."""


async def test_a_job_reads_its_leads_one_chunk_at_a_time(
    app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed_demo(leads=40, anchor=ANCHOR.date())
    every = await all_lead_ids()
    # Every third lead leaves the filter: the chunks' ids have gaps.
    await Lead.filter(id__in=every[::3]).update(stage=LifecycleStage.CUSTOMER)
    stages = [s.value for s in LifecycleStage if s != LifecycleStage.CUSTOMER]
    lead_filter = LeadFilter.parse(stages=stages, sources=(), decaying=False)
    matching = cast(
        list[int],
        await Lead.filter(lead_filter.query()).order_by("id").values_list("id", flat=True),
    )  # what create_job read in one list before
    assert len(matching) < len(every) - 1  # gaps
    db = connection()
    rows: list[int] = []
    caller = asyncio.current_task()
    execute = db.execute_query

    async def counted(sql: str, values: list[Any] | None = None) -> Any:
        result = await execute(sql, values)
        if asyncio.current_task() is caller and '"lead"' in sql and "SELECT" in sql:
            rows.append(len(result[1]))
        return result

    monkeypatch.setattr(db, "execute_query", counted)
    job = await create_job(
        kind="evaluate", version=VERSION, lead_filter=lead_filter, created_by="test", chunk_size=7
    )
    monkeypatch.undo()
    assert rows
    assert max(rows) <= 7, rows  # never every id at once
    chunks = await BulkJobChunk.filter(job_id=job.id).order_by("first_lead_id")
    parts = [matching[i : i + 7] for i in range(0, len(matching), 7)]
    assert job.total == len(matching)
    assert [(c.first_lead_id, c.last_lead_id, c.cursor, c.total) for c in chunks] == [
        (p[0], p[-1], p[0] - 1, len(p)) for p in parts
    ]
