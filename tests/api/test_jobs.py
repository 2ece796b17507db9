"""Claiming a named chunk (what a queued task does): who may take it, and who may not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from starlette.applications import Starlette

from api.enums import JobStatus
from api.job_chunks import STALE_AFTER, claim_chunk_by_id, release_chunk
from api.jobs import progress_of
from api.models import BulkJob, BulkJobChunk

VERSION = "not-the-live-version"
"""The session app's in-server runner only runs jobs of the live version: it leaves these be."""


async def job_with_chunks(*statuses: JobStatus) -> list[BulkJobChunk]:
    job = await BulkJob.create(
        kind="evaluate", rulebook_version=VERSION, total=10 * len(statuses), created_by="test"
    )
    return [
        await BulkJobChunk.create(
            job_id=job.id,
            first_lead_id=10 * i + 1,
            last_lead_id=10 * i + 10,
            cursor=10 * i,
            total=10,
            status=status,
            claimed_by="host:1" if status != JobStatus.PENDING else None,
            heartbeat_at=datetime.now(UTC) if status != JobStatus.PENDING else None,
        )
        for i, status in enumerate(statuses)
    ]


async def test_a_named_chunk_is_claimed_once_and_a_live_runners_chunk_only_by_take_over(
    app: Starlette,
) -> None:
    pending, running, done = await job_with_chunks(
        JobStatus.PENDING, JobStatus.RUNNING, JobStatus.DONE
    )

    claimed = await claim_chunk_by_id(pending.id, runner="host:2")
    assert claimed is not None
    assert (claimed.status, claimed.claimed_by) == (JobStatus.RUNNING, "host:2")
    assert await claim_chunk_by_id(pending.id, runner="host:3") is None  # host:2 is alive
    assert await claim_chunk_by_id(running.id, runner="host:2") is None
    assert await claim_chunk_by_id(done.id, runner="host:2", take_over=True) is None

    taken = await claim_chunk_by_id(running.id, runner="host:2", take_over=True)
    assert taken is not None
    assert taken.claimed_by == "host:2"
    job = await BulkJob.get(id=pending.job_id)  # type: ignore[attr-defined]
    assert job.status == JobStatus.RUNNING
    assert (await progress_of([job.id]))[job.id].runners == ["host:1", "host:2"]


async def test_a_quiet_chunk_is_claimed_without_take_over_and_a_released_one_at_once(
    app: Starlette,
) -> None:
    quiet, released = await job_with_chunks(JobStatus.RUNNING, JobStatus.RUNNING)
    later = datetime.now(UTC) + STALE_AFTER + timedelta(seconds=1)
    assert await claim_chunk_by_id(quiet.id, runner="host:2", now=later) is not None

    assert not await release_chunk(released.id, runner="host:2")  # not its chunk
    assert await release_chunk(released.id, runner="host:1")
    again = await claim_chunk_by_id(released.id, runner="host:2")
    assert again is not None
    assert again.cursor == released.cursor  # it goes on from the last committed batch


async def test_a_cancelled_jobs_chunks_are_not_claimed(app: Starlette) -> None:
    (chunk,) = await job_with_chunks(JobStatus.PENDING)
    await BulkJob.filter(id=chunk.job_id).update(status=JobStatus.CANCELLED)  # type: ignore[attr-defined]
    assert await claim_chunk_by_id(chunk.id, runner="host:2", take_over=True) is None
