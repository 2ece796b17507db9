"""Engine containment: evaluations run in supervised worker processes.

The durable_rules C extension can crash the process or loop forever (DESIGN.md §4). Each worker
process owns its own engine and runs one evaluation at a time; the parent waits with a timeout.
A dead worker becomes :class:`EngineCrashed`, a slow one is killed and becomes
:class:`EngineTimeout`; either way the worker is replaced and the next evaluation works.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing as mp
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from rules import batch, pair
from rules.brief import BriefOutcome
from rules.brief import decode as decode_brief
from rules.errors import PoolClosed, RulesError
from rules.loader import load_rulebook
from rules.models import EvaluationInput, EvaluationResult, FeedbackEvent, TargetingAdjustment
from rules.record import PackedInput, PackedResult
from rules.rulebook import Rulebook
from rules.supervisor import _LOAD_TIMEOUT, _Worker, worker_restarts
from rules.worker import KEEP_VERSIONS

__all__ = ["EnginePool", "worker_restarts"]


class EnginePool:
    """Supervised worker processes evaluating leads against the current rulebook version.

    ``await pool.evaluate(inp)`` from async code, ``pool.evaluate_sync(inp)`` from sync code.
    ``pool.load(new_rulebook)`` switches the version for new evaluations; in-flight ones finish
    on the version they started with. Calls may also name their ``rulebook``: versions then
    share the workers (a live swap starts no process), each worker keeps the two most recently
    used versions compiled and frees older ones.
    """

    def __init__(
        self,
        rulebook: Rulebook | str | Path,
        *,
        workers: int = 2,
        timeout: float = 5.0,
        start_method: str = "spawn",
    ) -> None:
        self.timeout = timeout
        self._ctx = mp.get_context(start_method)
        self._book = rulebook if isinstance(rulebook, Rulebook) else load_rulebook(rulebook)
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._workers: list[_Worker] = []
        self._closed = False
        self._lock = threading.Lock()
        self._workers = [_Worker(self._ctx, wait=False) for _ in range(max(1, workers))]
        for worker in self._workers:  # started together, so startup costs one spawn
            worker.wait_ready()
            self._idle.put(worker)

    @property
    def rulebook(self) -> Rulebook:
        return self._book

    @property
    def version(self) -> str:
        return self._book.version

    def load(self, rulebook: Rulebook | str | Path) -> str:
        """Make ``rulebook`` current for new evaluations; returns its version."""
        book = rulebook if isinstance(rulebook, Rulebook) else load_rulebook(rulebook)
        with self._lock:
            self._book = book
        return book.version

    def worker_pids(self) -> list[int | None]:
        return [w.pid for w in self._workers]

    def _run(
        self,
        kind: str,
        payload: Any,
        extra: Any,
        timeout: float | None,
        rulebook: Rulebook | None = None,
    ) -> Any:
        book = rulebook or self._book
        with self._lease() as worker:
            sources = None if worker.holds(book.version) else book
            job = (kind, book.version, sources, payload, extra)
            limit = self.timeout if timeout is None else timeout
            return worker.call(job, limit + (_LOAD_TIMEOUT if sources is not None else 0))

    @contextlib.contextmanager
    def _lease(self) -> Iterator[_Worker]:
        """A free worker, alive (one that died while idle is replaced: not this job's fault),
        handed back to the others afterwards."""
        if self._closed:
            raise PoolClosed("engine pool is closed")
        worker = self._idle.get()
        try:
            if self._closed:
                raise PoolClosed("engine pool is closed")
            if not worker.process.is_alive():
                worker.replace()
            yield worker
        finally:
            self._idle.put(worker)

    def evaluate_sync(
        self,
        inp: EvaluationInput,
        *,
        explain: bool = True,
        time_limit: float | None = None,
        rulebook: Rulebook | None = None,
    ) -> EvaluationResult:
        """``rulebook`` (default: the current one) lets several versions share the workers."""
        raw = self._run("eval", inp.model_dump_json(), explain, time_limit, rulebook)
        return EvaluationResult.model_validate_json(raw)

    async def evaluate(
        self,
        inp: EvaluationInput,
        *,
        explain: bool = True,
        time_limit: float | None = None,
        rulebook: Rulebook | None = None,
    ) -> EvaluationResult:
        """Evaluate in a worker; raises EngineCrashed/EngineTimeout/InvalidInput/EngineError."""
        return await asyncio.to_thread(
            self.evaluate_sync, inp, explain=explain, time_limit=time_limit, rulebook=rulebook
        )

    def evaluate_batch_sync(
        self,
        inputs: list[EvaluationInput],
        *,
        explain: bool = False,
        time_limit: float | None = None,
        _faults: dict[int, str] | None = None,
        rulebook: Rulebook | None = None,
    ) -> list[batch.Outcome]:
        """Evaluate many leads: one round trip per worker, all workers at once. Each lead gets
        its result or the typed error it alone caused (a crash or hang on one lead does not
        fail the others). ``_faults`` (index → exit/segfault/hang) is for containment tests."""
        return self._split(inputs, explain, time_limit, _faults or {}, rulebook, batch._decode)

    async def evaluate_batch_plain(
        self,
        inputs: list[EvaluationInput],
        *,
        rulebook: Rulebook | None = None,
        _faults: dict[int, str] | None = None,
    ) -> list[dict[str, Any] | RulesError]:
        """``evaluate_batch`` (no "why not"), each result as the worker's plain data
        (``rules.batch.decode_plain``: not validated again), for callers that only reshape
        results into rows (the bulk job)."""
        args = (inputs, False, None, _faults or {}, rulebook, batch.decode_plain)
        return await asyncio.to_thread(self._split, *args)

    async def evaluate_batch_packed(
        self,
        inputs: list[PackedInput],
        *,
        rulebook: Rulebook | None = None,
        _faults: dict[int, str] | None = None,
    ) -> list[PackedResult | RulesError]:
        """``evaluate_batch`` (no "why not") of inputs in their record text, each result
        packed by the worker as the record the bulk job stores (rules/record.py): the parent
        neither encodes the inputs nor builds the records."""
        args = (inputs, False, None, _faults or {}, rulebook, batch.decode_packed)
        return await asyncio.to_thread(self._split, *args, packed=True)

    def evaluate_brief_sync(
        self,
        inputs: list[EvaluationInput],
        *,
        time_limit: float | None = None,
        rulebook: Rulebook | None = None,
        _faults: dict[int, str] | None = None,
    ) -> list[BriefOutcome]:
        """``evaluate_batch_sync`` answering with :class:`rules.brief.BriefResult` (what a
        simulation counts): less to pickle and no validation in the parent."""
        return self._split(
            inputs, False, time_limit, _faults or {}, rulebook, decode_brief, brief=True
        )

    def _split(
        self,
        inputs: list[EvaluationInput] | list[PackedInput],
        explain: bool,
        time_limit: float | None,
        faults: dict[int, str],
        rulebook: Rulebook | None,
        decode: Callable[[Any], Any],
        *,
        brief: bool = False,
        packed: bool = False,
    ) -> list[Any]:
        """The inputs in one chunk per worker, evaluated at once (``brief``: the worker cuts
        each result down; ``packed``: inputs and results in record form; ``decode`` turns what
        the worker sends into the caller's outcome)."""
        if not inputs:
            return []
        payload: list[tuple[Any, int]]
        if packed:
            payload, reps = batch.pack_records(cast(list[PackedInput], inputs))
        else:
            payload, reps = batch.pack(cast(list[EvaluationInput], inputs))
        book = rulebook or self._book
        return self._chunked(
            payload,
            faults,
            lambda part, part_faults: self._batch(
                part, part_faults, reps, explain, time_limit, book, decode, brief, packed
            ),
        )

    def _chunked(
        self,
        payload: list[tuple[Any, int]],
        faults: dict[int, str],
        run: Callable[[list[tuple[Any, int]], dict[int, str]], list[Any]],
    ) -> list[Any]:
        """``run`` on one chunk of ``payload`` per worker, all at once; outcomes in order."""
        parts = min(len(self._workers), len(payload))
        size = -(-len(payload) // parts)
        chunks = [
            (payload[i : i + size], {k - i: v for k, v in faults.items() if i <= k < i + size})
            for i in range(0, len(payload), size)
        ]
        if len(chunks) == 1:
            return run(*chunks[0])
        with ThreadPoolExecutor(len(chunks)) as threads:
            done = threads.map(lambda c: run(*c), chunks)
            return [outcome for part in done for outcome in part]

    async def evaluate_batch(
        self,
        inputs: list[EvaluationInput],
        *,
        explain: bool = False,
        time_limit: float | None = None,
        rulebook: Rulebook | None = None,
    ) -> list[batch.Outcome]:
        """``evaluate_batch_sync`` from async code (the event loop stays free)."""
        return await asyncio.to_thread(
            self.evaluate_batch_sync,
            inputs,
            explain=explain,
            time_limit=time_limit,
            rulebook=rulebook,
        )

    async def evaluate_brief(
        self,
        inputs: list[EvaluationInput],
        *,
        time_limit: float | None = None,
        rulebook: Rulebook | None = None,
    ) -> list[BriefOutcome]:
        """``evaluate_brief_sync`` from async code (the event loop stays free)."""
        return await asyncio.to_thread(
            self.evaluate_brief_sync, inputs, time_limit=time_limit, rulebook=rulebook
        )

    def _batch(
        self,
        payload: list[tuple[Any, int]],
        faults: dict[int, str],
        reps: list[str],
        explain: bool,
        timeout: float | None,
        book: Rulebook,
        decode: Callable[[Any], Any],
        brief: bool = False,
        packed: bool = False,
    ) -> list[Any]:
        with self._lease() as worker:

            def job(part: list[tuple[Any, int]], part_faults: dict[int, str]) -> tuple[Any, ...]:
                sources = None if worker.holds(book.version) else book
                extra = (explain, part_faults, reps, brief, packed)
                return ("batch", book.version, sources, part, extra)

            limit = self.timeout if timeout is None else timeout
            return batch.run_on(worker, job, payload, limit, faults, decode)

    def evaluate_pairs_sync(
        self,
        inputs: list[PackedInput],
        both: list[bool],
        *,
        before: Rulebook,
        after: Rulebook,
        time_limit: float | None = None,
        _faults: dict[int, str] | None = None,
    ) -> list[pair.PairOutcome]:
        """Each input decided brief (rules/brief.py) by ``after`` and, where ``both``, by
        ``before`` too, in one round trip per worker (rules/pair.py): each worker holds both
        versions, reads each input once and, when both build the same facts, builds them once.
        A lead that crashes or hangs its worker gets that error for both."""
        if not inputs:
            return []
        payload, reps = pair.pack(inputs, both)
        faults = _faults or {}
        limit = self.timeout if time_limit is None else time_limit
        books = (before, after)

        def run(part: list[tuple[Any, int]], part_faults: dict[int, str]) -> list[Any]:
            with self._lease() as worker:

                def job(chunk: list[tuple[Any, int]], chunk_faults: dict[int, str]) -> Any:
                    sources = pair.sources(worker.recent, books, KEEP_VERSIONS)
                    versions = (before.version, after.version)
                    return ("pair", versions, sources, chunk, (chunk_faults, reps))

                return batch.run_on(worker, job, part, limit, part_faults, pair.decode)

        return self._chunked(payload, faults, run)

    def evaluate_feedback_sync(
        self, events: list[FeedbackEvent], now: datetime, rulebook: Rulebook | None = None
    ) -> list[TargetingAdjustment]:
        payload = [e.model_dump(mode="json") for e in events]
        raw = self._run("feedback", payload, now.isoformat(), None, rulebook)
        return [TargetingAdjustment.model_validate(a) for a in raw]

    async def evaluate_feedback(
        self, events: list[FeedbackEvent], now: datetime, rulebook: Rulebook | None = None
    ) -> list[TargetingAdjustment]:
        return await asyncio.to_thread(self.evaluate_feedback_sync, events, now, rulebook)

    def _inject_fault(self, kind: str, timeout: float | None = None) -> None:
        """Test/drill hook: make the next free worker ``exit``, ``segfault`` or ``hang``."""
        worker = self._idle.get()
        try:
            worker.call(("fault", kind), self.timeout if timeout is None else timeout)
        finally:
            self._idle.put(worker)

    def close(self) -> None:
        """Stop every worker (waits for in-flight evaluations to hand their worker back)."""
        if self._closed:
            return
        self._closed = True
        for _ in self._workers:
            worker = self._idle.get()
            with contextlib.suppress(OSError):
                worker.conn.send(("stop",))
            worker.process.join(2)
            worker.kill()

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)

    def __enter__(self) -> EnginePool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> EnginePool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
