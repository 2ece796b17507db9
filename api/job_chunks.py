"""The chunks of a bulk job: claimed by one runner at a time, run from their cursor.

Each batch of a chunk is evaluated and applied through the batch path (``api.bulk``) inside one
transaction that also moves the chunk's cursor with a compare-and-set. So progress is committed
with the work it describes: a killed runner loses at most its uncommitted batch, and a resumed
(or a concurrent) runner never evaluates a lead twice for the job — the loser of the
compare-and-set rolls its batch back.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import cast

from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction

from api.bulk import evaluate_leads
from api.engine import RulesEngine
from api.enums import EvaluationTrigger, JobStatus
from api.errors import InvalidInput
from api.lead_filter import LeadFilter
from api.models import BulkJob, BulkJobChunk, Lead

BATCH_SIZE = 1_000
"""Leads per committed batch: evaluated in engine batches of ``api.bulk.BATCH`` inside it, so
the pipeline of ``evaluate_leads`` (next engine batch evaluated while one is written) works
here too, and the run-wide reads (campaigns, adjustments, reps) are made once per 1,000 leads.
A killed runner loses at most this batch."""
STALE_AFTER = timedelta(seconds=60)
"""A running chunk whose heartbeat is older than this is taken over by another runner."""


def runner_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


async def claim_chunk(
    job_id: int, *, runner: str, take_over: bool = False, now: datetime | None = None
) -> BulkJobChunk | None:
    """Atomically take a pending chunk (or a running one whose runner went quiet)."""
    now = now or datetime.now(UTC)
    stale = (
        Q(status=JobStatus.RUNNING)
        if take_over
        else Q(status=JobStatus.RUNNING, heartbeat_at__lt=now - STALE_AFTER)
    )
    if not await _job_open(job_id):
        return None
    candidates = await BulkJobChunk.filter(Q(job_id=job_id) & (Q(status=JobStatus.PENDING) | stale))
    for chunk in sorted(candidates, key=lambda c: c.id):
        if won := await _take(chunk, runner=runner, now=now):
            return won
    return None


async def claim_chunk_by_id(
    chunk_id: int, *, runner: str, take_over: bool = False, now: datetime | None = None
) -> BulkJobChunk | None:
    """Take one given chunk (a queued task names its chunk): pending, gone quiet, or, with
    ``take_over``, whoever holds it (the task queue saw its runner die). None when it is done,
    its job is closed, or a live runner has it."""
    now = now or datetime.now(UTC)
    chunk = await BulkJobChunk.get_or_none(id=chunk_id)
    if chunk is None or chunk.status not in (JobStatus.PENDING, JobStatus.RUNNING):
        return None
    if not await _job_open(chunk.job_id):  # type: ignore[attr-defined]
        return None
    quiet = chunk.heartbeat_at is None or chunk.heartbeat_at < now - STALE_AFTER
    if chunk.status == JobStatus.RUNNING and not (take_over or quiet):
        return None
    return await _take(chunk, runner=runner, now=now)


async def release_chunk(chunk_id: int, *, runner: str) -> bool:
    """Hand a chunk back (a worker stopping between batches): the next runner claims it at once."""
    return bool(
        await BulkJobChunk.filter(id=chunk_id, claimed_by=runner, status=JobStatus.RUNNING).update(
            status=JobStatus.PENDING
        )
    )


async def _job_open(job_id: int) -> bool:
    return await BulkJob.filter(
        id=job_id, status__in=[JobStatus.PENDING, JobStatus.RUNNING]
    ).exists()


async def _take(chunk: BulkJobChunk, *, runner: str, now: datetime) -> BulkJobChunk | None:
    """Compare-and-set on (status, claimed_by): of two runners taking one chunk, one wins."""
    won = await BulkJobChunk.filter(
        id=chunk.id, status=chunk.status, claimed_by=chunk.claimed_by
    ).update(status=JobStatus.RUNNING, claimed_by=runner, heartbeat_at=now)
    if not won:
        return None
    await BulkJob.filter(id=chunk.job_id, status=JobStatus.PENDING).update(  # type: ignore[attr-defined]
        status=JobStatus.RUNNING, started_at=now
    )
    return await BulkJobChunk.get(id=chunk.id)


class LostChunk(Exception):
    """Another runner moved this chunk's cursor first: this batch is rolled back."""


OnBatch = Callable[[int], Awaitable[None] | None]


async def run_chunk(
    chunk: BulkJobChunk,
    *,
    engine: RulesEngine,
    lead_filter: LeadFilter,
    runner: str,
    batch_size: int = BATCH_SIZE,
    on_batch: OnBatch | None = None,
) -> bool:
    """Evaluate the chunk from its cursor to its end; False when another runner took it."""
    if engine.version != (await BulkJob.get(id=chunk.job_id)).rulebook_version:  # type: ignore[attr-defined]
        raise InvalidInput("engine version differs from the job's version", field="version")
    while True:
        if await BulkJob.filter(id=chunk.job_id, status=JobStatus.CANCELLED).exists():  # type: ignore[attr-defined]
            return False
        ids = cast(
            list[int],
            await Lead.filter(lead_filter.query(), id__gt=chunk.cursor, id__lte=chunk.last_lead_id)
            .order_by("id")
            .limit(batch_size)
            .values_list("id", flat=True),
        )
        if not ids:
            break
        # Work done, committed before the batch: what a killed batch cost stays counted.
        await BulkJobChunk.filter(id=chunk.id).update(attempted=F("attempted") + len(ids))
        try:
            await _batch(chunk, ids, engine=engine, runner=runner)
        except LostChunk:
            return False
        if on_batch is not None:
            said = on_batch(len(ids))
            if said is not None:
                await said
    # Leads that left the filter (or were deleted) meanwhile are simply not processed.
    await BulkJobChunk.filter(id=chunk.id, claimed_by=runner).update(status=JobStatus.DONE)
    await finish_job_if_done(chunk.job_id)  # type: ignore[attr-defined]
    return True


async def _batch(chunk: BulkJobChunk, ids: list[int], *, engine: RulesEngine, runner: str) -> None:
    now = datetime.now(UTC)
    async with in_transaction():
        summary = await evaluate_leads(
            engine=engine, lead_ids=ids, trigger=EvaluationTrigger.BULK, now=now
        )
        moved = await BulkJobChunk.filter(id=chunk.id, cursor=chunk.cursor).update(
            cursor=ids[-1],
            claimed_by=runner,
            heartbeat_at=now,
            processed=F("processed") + len(ids),
            evaluated=F("evaluated") + summary.evaluated,
            moved=F("moved") + summary.moved,
            handoffs=F("handoffs") + summary.handoffs,
            skipped=F("skipped") + summary.skipped,
            failed=F("failed") + summary.failed,
        )
        if not moved:
            raise LostChunk(chunk.id)
    chunk.cursor = ids[-1]
    chunk.processed += len(ids)


async def finish_job_if_done(job_id: int) -> None:
    if not await BulkJobChunk.filter(job_id=job_id).exclude(status=JobStatus.DONE).exists():
        await (
            BulkJob.filter(id=job_id)
            .exclude(status=JobStatus.DONE)
            .update(status=JobStatus.DONE, finished_at=datetime.now(UTC))
        )
