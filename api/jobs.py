"""Bulk re-evaluation as a resumable job: a row per job, chunks of lead ids, a cursor per chunk.

Each batch of a chunk is evaluated and applied through the batch path (``api.bulk``) inside one
transaction that also moves the chunk's cursor with a compare-and-set. So progress is committed
with the work it describes: a killed runner loses at most its uncommitted batch, and a resumed
(or a concurrent) runner never evaluates a lead twice for the job — the loser of the
compare-and-set rolls its batch back.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction

from api.bulk import SCHEDULED_STAGES, evaluate_leads
from api.engine import RulesEngine
from api.enums import EvaluationTrigger, JobStatus, LifecycleStage
from api.errors import InvalidInput, NotFound
from api.models import BulkJob, BulkJobChunk, Lead

CHUNK_SIZE = 2_000
BATCH_SIZE = 1_000
"""Leads per committed batch: evaluated in engine batches of ``api.bulk.BATCH`` inside it, so
the pipeline of ``evaluate_leads`` (next engine batch evaluated while one is written) works
here too, and the run-wide reads (campaigns, adjustments, reps) are made once per 1,000 leads.
A killed runner loses at most this batch."""
STALE_AFTER = timedelta(seconds=60)
"""A running chunk whose heartbeat is older than this is taken over by another runner."""


@dataclass(frozen=True, slots=True)
class LeadFilter:
    """Which leads a job re-evaluates (empty: all of them)."""

    stages: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    decaying: bool = False

    def query(self) -> Q:
        q = Q()
        if self.stages:
            q &= Q(stage__in=list(self.stages))
        if self.sources:
            q &= Q(source__in=list(self.sources))
        if self.decaying:
            q &= Q(stage__in=list(SCHEDULED_STAGES), engagement_score__gt=0)
        return q

    def as_json(self) -> dict[str, object]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def parse(
        cls,
        *,
        stages: Sequence[str] = (),
        sources: Sequence[str] = (),
        decaying: bool = False,
        field: str = "filter",
    ) -> LeadFilter:
        known = {s.value for s in LifecycleStage}
        for stage in stages:
            if stage not in known:
                raise InvalidInput(
                    f"unknown stage {stage!r}",
                    field=f"{field}.stages",
                    suggestion=f"one of: {', '.join(sorted(known))}",
                )
        return cls(stages=tuple(stages), sources=tuple(sources), decaying=decaying)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LeadFilter:
        return cls(
            stages=tuple(data.get("stages", ())),
            sources=tuple(data.get("sources", ())),
            decaying=bool(data.get("decaying", False)),
        )


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
    ids = cast(
        list[int],
        await Lead.filter(lead_filter.query()).order_by("id").values_list("id", flat=True),
    )
    job = await BulkJob.create(
        kind=kind,
        rulebook_version=version,
        lead_filter=lead_filter.as_json(),
        total=len(ids),
        created_by=created_by,
        status=JobStatus.PENDING if ids else JobStatus.DONE,
        finished_at=None if ids else datetime.now(UTC),
    )
    chunks = [
        BulkJobChunk(
            job_id=job.id,
            first_lead_id=part[0],
            last_lead_id=part[-1],
            cursor=part[0] - 1,
            total=len(part),
        )
        for part in (ids[i : i + chunk_size] for i in range(0, len(ids), chunk_size))
    ]
    if chunks:
        await BulkJobChunk.bulk_create(chunks)
    return job


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
    await _finish_job_if_done(chunk.job_id)  # type: ignore[attr-defined]
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


async def _finish_job_if_done(job_id: int) -> None:
    if not await BulkJobChunk.filter(job_id=job_id).exclude(status=JobStatus.DONE).exists():
        await (
            BulkJob.filter(id=job_id)
            .exclude(status=JobStatus.DONE)
            .update(status=JobStatus.DONE, finished_at=datetime.now(UTC))
        )


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
    await _finish_job_if_done(job_id)
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
