"""The engine of the active rulebook in this process, swapped live when the pointer moves.

Activating a version wakes every process at once on PostgreSQL (``NOTIFY``, see
:mod:`api.rulebook_signal`); the poll of the active pointer (one indexed read) is the fallback,
and the only signal on SQLite. A swap starts no process: the new version's rulebook is loaded
off the event loop (on a thread of its own, not behind queued evaluations; thawed from the
parsed form stored at publish, parsed only when there is none), compiled in the running engine
workers with a throw-away lead, and installed for new work. Work that already
holds the old engine (a lease, taken per HTTP request and per background tick) keeps
evaluating with the old version: each worker keeps the two most recent versions compiled
(DESIGN.md §4: free old rulesets only after in-flight work ends).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime
from functools import partial
from typing import Protocol

from api.engine import RulesEngine
from api.models import RulebookVersion
from api.rulebook_store import load_stored
from api.rulebook_versions import active_version
from rules import EvaluationInput, LeadData, Rulebook, RulesError

log = logging.getLogger(__name__)

PARSED_KEPT = 4
"""Loaded rulebooks kept per process: a rollback to a recent version loads nothing."""


async def warmed_up(engine: RulesEngine, executor: Executor | None = None) -> bool:
    """Compile the rulesets in the workers with throw-away leads (one per worker, at once)
    before any request depends on them: a version the engine cannot run is never swapped in.

    ``executor``: a thread of the caller's own, so a busy server's queued evaluations on the
    default executor do not delay the swap."""
    probe = EvaluationInput(lead=LeadData(email="warm-up@leadgate.invalid"), now=datetime.now(UTC))
    probes = [probe] * len(engine.pool.worker_pids())
    run = partial(engine.pool.evaluate_batch_sync, probes, rulebook=engine.rulebook)
    try:
        outcomes = await asyncio.get_running_loop().run_in_executor(executor, run)
    except RulesError as exc:
        outcomes = [exc]
    failed = [o for o in outcomes if isinstance(o, RulesError)]
    if failed:
        log.error("rulebook %s does not run: not swapped in: %s", engine.version[:12], failed[0])
        return False
    return True


class Pointer(Protocol):
    """Where a process reads which version is active, and a stored version."""

    async def active(self) -> str | None: ...

    async def stored(self, version: str) -> RulebookVersion | None: ...


class OrmPointer:
    """Through the ORM's pool (SQLite; PostgreSQL while the listener is not connected)."""

    async def active(self) -> str | None:
        return await active_version()

    async def stored(self, version: str) -> RulebookVersion | None:
        return await RulebookVersion.get_or_none(version=version)


class LiveEngine:
    """Holds the current engine, lends it out, and swaps it when the active version changes."""

    def __init__(
        self, engine: RulesEngine, *, on_swap: Callable[[RulesEngine], None] | None = None
    ) -> None:
        self._current = engine
        self._on_swap = on_swap
        self._leases: dict[int, int] = {}
        self._lock = asyncio.Lock()
        self._failed: str | None = None
        self._wake = asyncio.Event()
        self._hint: str | None = None
        self._pointer: Pointer = OrmPointer()
        self._parsed: OrderedDict[str, asyncio.Task[Rulebook | None]] = OrderedDict()
        # Loading (parsing, when there is no stored form) and warming up a large rulebook: on
        # threads of their own (a load ahead and a warm-up at once), so a swap never waits
        # behind the evaluations queued on the default executor of a busy server.
        self._parser = ThreadPoolExecutor(2, thread_name_prefix="rulebook-swap")
        self.swaps = 0

    @property
    def current(self) -> RulesEngine:
        return self._current

    @property
    def version(self) -> str:
        return self._current.version

    @asynccontextmanager
    async def lease(self) -> AsyncIterator[RulesEngine]:
        """The current engine, used for the whole block even if a swap happens meanwhile."""
        engine = self._current
        key = id(engine)
        self._leases[key] = self._leases.get(key, 0) + 1
        try:
            yield engine
        finally:
            self._leases[key] -= 1
            if not self._leases[key]:
                del self._leases[key]

    def leased(self, engine: RulesEngine) -> int:
        """Blocks still running on ``engine`` (for tests and drills)."""
        return self._leases.get(id(engine), 0)

    def use_pointer(self, pointer: Pointer | None) -> None:
        """Read the pointer elsewhere (the listener's own connection), or again through the
        ORM's pool (``None``)."""
        self._pointer = pointer or OrmPointer()

    def on_message(self, kind: str, version: str, row: RulebookVersion | None = None) -> None:
        """A notification (api.rulebook_signal), with the stored version when the listener
        could read it. A published version is loaded ahead, so activating it later is quick;
        an activation is followed now instead of at the next poll."""
        self._parse_ahead(version, row)
        if kind == "activated":
            self._hint = version
            self._wake.set()

    def _parse_ahead(self, version: str, row: RulebookVersion | None = None) -> None:
        """Start loading ``version`` unless it is loaded or being loaded."""
        if version not in self._parsed:
            task = asyncio.get_running_loop().create_task(self._parse(version, row))
            self._parsed[version] = task
            while len(self._parsed) > PARSED_KEPT:
                self._parsed.popitem(last=False)

    async def refresh(self) -> bool:
        """Follow the active pointer; True when this call swapped the engine."""
        # A notification says which version was activated: no read through the request pool
        # (the poll that follows checks the pointer anyway).
        wanted, self._hint = self._hint or await self._pointer.active(), None
        if wanted is None or wanted == self._current.version or wanted == self._failed:
            return False
        async with self._lock:
            if wanted == self._current.version:
                return False
            started = time.perf_counter()
            book = await self.parsed(wanted)
            if book is None:
                self._failed = wanted
                return False
            engine = self._current.with_rulebook(book)
            if not await warmed_up(engine, self._parser):
                self._failed = wanted
                return False
            self._failed = None
            self.install(engine)
            log.info("swap to %s took %.2fs", wanted[:12], time.perf_counter() - started)
            return True

    async def parsed(self, version: str) -> Rulebook | None:
        """The stored version, loaded once per process (None: it does not load, and the log
        says why). A load already under way (ahead of activation) is shared."""
        self._parse_ahead(version)
        task = self._parsed[version]
        self._parsed.move_to_end(version)
        book = await asyncio.shield(task)
        if book is None and self._parsed.get(version) is task:
            del self._parsed[version]
        return book

    async def _parse(self, version: str, row: RulebookVersion | None) -> Rulebook | None:
        row = row or await self._pointer.stored(version)
        if row is None:
            return None
        try:
            return await load_stored(row, executor=self._parser)
        except Exception:  # keep serving the running version, say why
            log.exception("cannot load rulebook %s: keeping %s", version[:12], self.version)
            return None

    def install(self, engine: RulesEngine) -> None:
        """Make ``engine`` current for new work; leases keep the one they hold."""
        old, self._current = self._current, engine
        self.swaps += 1
        if self._on_swap is not None:
            self._on_swap(engine)
        log.info("rulebook %s is live (was %s)", engine.version[:12], old.version[:12])

    async def follow(self, interval_s: float) -> None:
        """Follow the pointer for the life of the app: at once when woken (a notification),
        else every ``interval_s``. Errors are logged and retried."""
        while True:
            try:
                await self.refresh()
            except Exception:  # database blip: try again next tick
                log.exception("rulebook poll failed")
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), interval_s)
            self._wake.clear()

    async def close(self) -> None:
        """Stop the worker processes every version shared."""
        for task in self._parsed.values():
            task.cancel()
        self._parser.shutdown(wait=False, cancel_futures=True)
        await self._current.close()
