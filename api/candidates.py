"""The engine workers ``simulateRulebook`` evaluates on, shared by requests.

Starting worker processes (spawn, imports, the C extension) cost every request a second or more
before its first lead. One pool, a worker per core (``api.engine.cpu_count``, as the CLI's), is
started on the first request and kept: each request names its candidate (``rulebook=``) and
the simulation decides each lead with the active version and the candidate in one pair job
per worker (rules/pair.py), so every worker holds both compiled (a worker keeps the two most
recently used versions, rules/worker.py): repeating a simulation compiles nothing again and a
new candidate starts no process. Simulations on this pool take turns, one at a time
(``api.simulation``: a lock per pool), each using every worker. Closed with the app.
"""

from __future__ import annotations

import asyncio

from api.engine import RulesEngine, cpu_count
from rules import EnginePool, Rulebook
from rules.errors import PoolClosed


class CandidateEngines:
    """One lazily started pool with a worker per core; an engine per candidate on it."""

    def __init__(self, *, timeout_s: float = 5.0) -> None:
        self._timeout_s = timeout_s
        self._pool: EnginePool | None = None
        self._lock = asyncio.Lock()
        self._closed = False

    async def engine(self, book: Rulebook) -> RulesEngine:
        """An engine for ``book`` on the shared workers (do not close it: :meth:`close` does)."""
        async with self._lock:
            if self._closed:
                raise PoolClosed("candidate engines are closed")
            if self._pool is None:
                self._pool = await asyncio.to_thread(
                    EnginePool, book, workers=cpu_count(), timeout=self._timeout_s
                )
            pool = self._pool
        return await asyncio.to_thread(RulesEngine, book, pool=pool)

    def worker_pids(self) -> list[int | None]:
        return self._pool.worker_pids() if self._pool is not None else []

    async def close(self) -> None:
        async with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            await pool.aclose()
