"""The engine of the active rulebook in this process, swapped live when the pointer moves.

Every process polls the active pointer (one indexed read). When it moves, the new version's
engine is built off the event loop and installed for new work; work that already holds the old
engine (a lease, taken per HTTP request and per background tick) finishes on it, and the old
engine — its worker processes and their durable_rules rulesets — is closed once the last lease
is returned (DESIGN.md §4: free old rulesets only after in-flight work ends).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from api.engine import RulesEngine
from api.models import RulebookVersion
from api.rulebook_versions import active_version, load_version
from rules import EvaluationInput, LeadData, Rulebook, RulesError

log = logging.getLogger(__name__)

EngineFactory = Callable[[Rulebook], RulesEngine]
RETIRE_TIMEOUT_S = 300.0


async def warmed_up(engine: RulesEngine) -> bool:
    """Compile the rulesets in the new workers with one throw-away lead before any request
    depends on them: a version the engine cannot run is never swapped in."""
    probe = EvaluationInput(lead=LeadData(email="warm-up@leadgate.invalid"), now=datetime.now(UTC))
    try:
        await engine.evaluate(probe)
    except RulesError:
        log.exception("rulebook %s does not run: not swapped in", engine.version[:12])
        return False
    return True


class LiveEngine:
    """Holds the current engine, lends it out, and swaps it when the active version changes."""

    def __init__(
        self,
        engine: RulesEngine,
        *,
        factory: EngineFactory,
        on_swap: Callable[[RulesEngine], None] | None = None,
    ) -> None:
        self._current = engine
        self._factory = factory
        self._on_swap = on_swap
        self._leases: dict[int, int] = {}
        self._retiring: set[asyncio.Task[None]] = set()
        self._lock = asyncio.Lock()
        self._failed: str | None = None
        self.swaps = 0

    @property
    def current(self) -> RulesEngine:
        return self._current

    @property
    def version(self) -> str:
        return self._current.version

    @asynccontextmanager
    async def lease(self) -> AsyncIterator[RulesEngine]:
        """The current engine, kept open until the block ends even if a swap happens."""
        engine = self._current
        key = id(engine)
        self._leases[key] = self._leases.get(key, 0) + 1
        try:
            yield engine
        finally:
            self._leases[key] -= 1
            if not self._leases[key]:
                del self._leases[key]

    async def refresh(self) -> bool:
        """Follow the active pointer; True when this call swapped the engine."""
        wanted = await active_version()
        if wanted is None or wanted == self._current.version or wanted == self._failed:
            return False
        async with self._lock:
            if wanted == self._current.version:
                return False
            row = await RulebookVersion.get_or_none(version=wanted)
            if row is None:
                return False
            started = time.perf_counter()
            try:
                engine = await asyncio.to_thread(self._build, row)
            except Exception:  # keep serving the running version, say why
                log.exception("cannot load rulebook %s: keeping %s", wanted[:12], self.version)
                self._failed = wanted
                return False
            if not await warmed_up(engine):
                await engine.close()
                self._failed = wanted
                return False
            self._failed = None
            self.install(engine)
            log.info("swap took %.2fs", time.perf_counter() - started)
            return True

    def _build(self, row: RulebookVersion) -> RulesEngine:
        """Validate and start the new version's workers (in a thread: both take a while)."""
        return self._factory(load_version(row))

    def install(self, engine: RulesEngine) -> None:
        """Make ``engine`` current; the old one is closed when its last lease ends."""
        old, self._current = self._current, engine
        self.swaps += 1
        if self._on_swap is not None:
            self._on_swap(engine)
        log.info("rulebook %s is live (was %s)", engine.version[:12], old.version[:12])
        if old is not engine:
            task = asyncio.create_task(self._retire(old))
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)

    async def _retire(self, old: RulesEngine) -> None:
        waited = 0.0
        while self._leases.get(id(old)) and waited < RETIRE_TIMEOUT_S:
            await asyncio.sleep(0.05)
            waited += 0.05
        await old.close()

    async def follow(self, interval_s: float) -> None:
        """Poll the pointer for the life of the app; errors are logged and retried."""
        while True:
            try:
                await self.refresh()
            except Exception:  # database blip: try again next tick
                log.exception("rulebook poll failed")
            await asyncio.sleep(interval_s)

    async def close(self) -> None:
        for task in list(self._retiring):
            with contextlib.suppress(Exception):
                await task
        await self._current.close()
