"""A bulk job SIGKILLed at random points and resumed: every lead evaluated exactly once for the
version, no duplicate handoff, and the total work within 1.1x of one uninterrupted run."""

from __future__ import annotations

import asyncio
import random
import signal
from pathlib import Path

from tests.api.own_db import assert_each_lead_once, query, start
from tests.api.rulebook_data import demo_files, write_rulebook

LEADS = 400
KILLS = 5
ENV = {"LEADGATE_JOB_BATCH_SIZE": "8", "LEADGATE_JOB_CHUNK_SIZE": "150"}


async def attempted(url: str) -> int:
    [(n,)] = await query(url, "SELECT COALESCE(SUM(attempted), 0) FROM bulk_job_chunk")
    return int(str(n))


async def working(url: str, before: int, proc: asyncio.subprocess.Process) -> None:
    for _ in range(3000):
        if await attempted(url) != before or proc.returncode is not None:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the job never started")


async def test_killed_job_resumes_and_evaluates_each_lead_once(
    fresh_database_url: str, tmp_path: Path
) -> None:
    url = fresh_database_url
    seeded = await start(url, "demo", "seed", "--leads", str(LEADS), "--no-evaluate")
    _, err = await seeded.communicate()
    assert seeded.returncode == 0, err.decode()
    rules = write_rulebook(tmp_path / "rules", demo_files(engagement=20))
    rng = random.Random(10)
    kills = 0
    command: tuple[str, ...] = ("rules", "publish", str(rules), "--note", "kill test")
    while kills < KILLS:
        before = await attempted(url)
        proc = await start(url, *command, env=ENV)
        await working(url, before, proc)  # kill only once it works: mid-job, mid-batch
        await asyncio.sleep(rng.uniform(0, 0.4))
        if proc.returncode is not None:
            break  # finished before the kill: then nothing is left to resume
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        kills += 1
        command = ("jobs", "resume", "1")
    assert kills == KILLS, "the job finished too fast to be killed five times"
    final = await start(url, "jobs", "resume", "1", env=ENV)
    out, err = await final.communicate()
    assert final.returncode == 0, err.decode()
    assert f"[job 1 done, {LEADS}/{LEADS}]" in out.decode()

    await assert_each_lead_once(url, leads=LEADS)
