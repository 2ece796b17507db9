"""Follow-up jobs: one run per key at a time, a burst of kicks coalesces into one more run."""

from __future__ import annotations

import asyncio
import logging

import pytest

from api.background import Jobs


async def test_kicks_during_a_run_coalesce_into_one_more_run() -> None:
    jobs, release = Jobs(), asyncio.Event()
    runs: list[int] = []

    async def job() -> None:
        runs.append(len(runs))
        await release.wait()

    jobs.kick("k", job)
    await asyncio.sleep(0)
    for _ in range(5):
        jobs.kick("k", job)  # while the first run waits
    release.set()
    await jobs.idle()
    assert runs == [0, 1]


async def test_a_failing_job_is_logged_and_the_next_kick_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    jobs = Jobs()
    done: list[bool] = []

    async def boom() -> None:
        raise RuntimeError("database restarting")

    async def ok() -> None:
        done.append(True)

    with caplog.at_level(logging.ERROR, logger="api.background"):
        jobs.kick("k", boom)
        await jobs.idle()
    assert "background job k failed" in caplog.text
    jobs.kick("k", ok)
    await jobs.idle()
    assert done == [True]
