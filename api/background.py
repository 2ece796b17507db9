"""Work that follows a request but must not make it wait: re-routing waiting leads after
capacity frees up, re-scoring the leads a targeting adjustment affects.

One task per key at a time: a kick while the key's job runs makes it run once more afterwards
(the second run sees everything the kicks asked for), so a burst of decisions costs two runs,
not one per decision. Failures are logged; the clock-driven jobs (api/periodic.py) catch up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

Job = Callable[[], Awaitable[object]]


class Jobs:
    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._again: dict[str, Job] = {}

    def kick(self, key: str, job: Job) -> None:
        """Run ``job`` soon; if ``key`` is running, run the latest job once more after it."""
        if key in self._tasks:
            self._again[key] = job
            return
        self._tasks[key] = asyncio.create_task(self._run(key, job))

    async def _run(self, key: str, job: Job) -> None:
        try:
            while True:
                try:
                    await job()
                except Exception:  # logged; the periodic jobs retry
                    log.exception("background job %s failed", key)
                next_job = self._again.pop(key, None)
                if next_job is None:
                    return
                job = next_job
        finally:
            self._tasks.pop(key, None)

    async def idle(self) -> None:
        """Wait until no job runs (tests and shutdown)."""
        while self._tasks:
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    async def close(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
