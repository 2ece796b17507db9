"""Bulk re-evaluation as a resumable job: a row per job, chunks of lead ids, a cursor per chunk.

Creating a job splits the matching leads into chunks (api.job_chunks runs them, committing the
cursor with each batch); this module creates, runs, follows, lists and cancels jobs, and sums
their progress.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import cast

from api.engine import RulesEngine
from api.enums import JobStatus
from api.errors import NotFound
from api.job_chunks import (
    BATCH_SIZE,
    OnBatch,
    claim_chunk,
    finish_job_if_done,
    run_chunk,
    runner_name,
)
from api.lead_filter import LeadFilter
from api.models import BulkJob, BulkJobChunk, Lead

CHUNK_SIZE = 2_000


@dataclass(slots=True)
class Progress:
    """A job's totals, summed over its chunks."""

    total: int = 0
    processed: int = 0
    attempted: int = 0
    evaluated: int = 0
    moved: int = 0
    handoffs: int = 0
    skipped: int = 0
    failed: int = 0
    chunks: int = 0
    chunks_done: int = 0
    runners: list[str] = field(default_factory=list)
    """Who claimed its chunks (host:pid of a CLI, server or ``leadgate worker``), sorted."""

    @property
    def fraction(self) -> float:
        if self.chunks == self.chunks_done:
            return 1.0
        return min(1.0, self.processed / self.total)


COUNTERS = ("processed", "attempted", "evaluated", "moved", "handoffs", "skipped", "failed")


async def create_job(
    *,
    kind: str,
    version: str,
    lead_filter: LeadFilter,
    created_by: str,
    chunk_size: int = CHUNK_SIZE,
) -> BulkJob:
    """The job row and its chunks for the leads matching now (leads created later are
    evaluated by their own triggers). Caller may hold a transaction."""
    bounds = await _chunk_bounds(lead_filter, chunk_size)
    total = sum(n for _, _, n in bounds)
    job = await BulkJob.create(
        kind=kind,
        rulebook_version=version,
        lead_filter=lead_filter.as_json(),
        total=total,
        created_by=created_by,
        status=JobStatus.PENDING if total else JobStatus.DONE,
        finished_at=None if total else datetime.now(UTC),
    )
    chunks = [
        BulkJobChunk(
            job_id=job.id, first_lead_id=first, last_lead_id=last, cursor=first - 1, total=n
        )
        for first, last, n in bounds
    ]
    if chunks:
        await BulkJobChunk.bulk_create(chunks)
    return job


async def _chunk_bounds(lead_filter: LeadFilter, chunk_size: int) -> list[tuple[int, int, int]]:
    """First id, last id and leads of each chunk, reading one chunk of ids at a time: a job
    over a million leads never holds a million ids (~100 MB in one list)."""
    bounds: list[tuple[int, int, int]] = []
    query = Lead.filter(lead_filter.query())
    while True:
        after = query.filter(id__gt=bounds[-1][1]) if bounds else query
        ids = cast(
            list[int], await after.order_by("id").limit(chunk_size).values_list("id", flat=True)
        )
        if not ids:
            return bounds
        bounds.append((ids[0], ids[-1], len(ids)))


async def get_job(job_id: int, *, field: str = "id") -> BulkJob:
    job = await BulkJob.get_or_none(id=job_id)
    if job is None:
        raise NotFound(f"no bulk job {job_id}", field=field)
    return job


async def progress_of(job_ids: Sequence[int]) -> dict[int, Progress]:
    """Progress of many jobs in one query (a job has total / CHUNK_SIZE chunks)."""
    result = {job_id: Progress() for job_id in job_ids}
    rows = await BulkJobChunk.filter(job_id__in=list(job_ids)).values(
        "job_id", "status", "total", "claimed_by", *COUNTERS
    )
    for row in rows:
        p = result[row["job_id"]]
        for name in ("total", *COUNTERS):
            setattr(p, name, getattr(p, name) + int(row[name]))
        p.chunks += 1
        p.chunks_done += row["status"] == JobStatus.DONE
        if row["claimed_by"] and row["claimed_by"] not in p.runners:
            p.runners.append(row["claimed_by"])
    for p in result.values():
        p.runners.sort()
    return result


EngineFor = Callable[[str], Awaitable[RulesEngine]]


async def run_job(
    job_id: int,
    *,
    engine: RulesEngine,
    runner: str | None = None,
    take_over: bool = False,
    batch_size: int = BATCH_SIZE,
    on_batch: OnBatch | None = None,
) -> BulkJob:
    """Run every chunk this runner can claim, one after another, in this process."""
    job = await get_job(job_id)
    runner = runner or runner_name()
    lead_filter = LeadFilter.from_json(job.lead_filter)
    while chunk := await claim_chunk(job_id, runner=runner, take_over=take_over):
        await run_chunk(
            chunk,
            engine=engine,
            lead_filter=lead_filter,
            runner=runner,
            batch_size=batch_size,
            on_batch=on_batch,
        )
    await finish_job_if_done(job_id)
    return await get_job(job_id)


async def follow_job(
    job_id: int,
    *,
    engine: RulesEngine | None,
    poll_s: float,
    on_progress: Callable[[int], None],
    take_over: bool = False,
    batch_size: int = BATCH_SIZE,
) -> BulkJob:
    """Run the chunks this process can claim (none when ``engine`` is None: workers run them),
    then wait for those other runners hold (claimed here once quiet for ``STALE_AFTER``, so a
    wait with an engine ends even if every other runner died); the job once it has ended."""
    while True:
        if engine is not None:
            processed = (await progress_of([job_id]))[job_id].processed

            def on_batch(n: int) -> None:
                nonlocal processed
                processed += n
                on_progress(processed)

            await run_job(
                job_id, engine=engine, take_over=take_over, batch_size=batch_size, on_batch=on_batch
            )
            take_over = False
        job = await get_job(job_id)
        on_progress((await progress_of([job_id]))[job_id].processed)
        if job.status not in (JobStatus.PENDING, JobStatus.RUNNING):
            return job
        await asyncio.sleep(poll_s)


async def list_jobs(*, limit: int = 50) -> list[BulkJob]:
    return await BulkJob.all().order_by("-id").limit(limit)


async def unfinished_jobs() -> list[BulkJob]:
    return await BulkJob.filter(status__in=[JobStatus.PENDING, JobStatus.RUNNING]).order_by("id")


async def cancel_superseded(version: str) -> int:
    """Unfinished jobs of other versions: activating ``version`` makes them moot."""
    return await (
        BulkJob.filter(status__in=[JobStatus.PENDING, JobStatus.RUNNING])
        .exclude(rulebook_version=version)
        .update(status=JobStatus.CANCELLED, error=f"superseded by rulebook {version[:12]}")
    )
