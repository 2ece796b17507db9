"""The parent's handle on one engine worker process (rules/worker.py): start, call, replace.

Split from rules/pool.py, which hands these workers out.
"""

from __future__ import annotations

import time
from multiprocessing.connection import Connection
from typing import Any

from rules import batch, errors
from rules.errors import EngineCrashed, EngineTimeout, RulesError
from rules.worker import KEEP_VERSIONS, worker_main

_START_TIMEOUT = 60.0
_LOAD_TIMEOUT = 60.0
"""Extra time for a job that first loads and compiles a rulebook in the worker (a 1,000-rule
rulebook takes seconds): loading is not an evaluation, and must not count as a hang."""


_restarts = 0


def worker_restarts() -> int:
    """Workers replaced in this process since it started (crash, timeout, engine error)."""
    return _restarts


class _Worker:
    """The parent's handle on one worker process."""

    def __init__(self, ctx: Any, *, wait: bool = True) -> None:
        self.ctx = ctx
        self._start()
        if wait:
            self.wait_ready()

    def _start(self) -> None:
        parent, child = self.ctx.Pipe()
        self.conn: Connection = parent
        self.progress = self.ctx.Value("i", -1, lock=False)
        self.process = self.ctx.Process(
            target=worker_main, args=(child, self.progress), daemon=True
        )
        self.process.start()
        child.close()
        self.recent: list[str] = []
        """Versions the worker holds compiled, least recently used first: the worker's own
        ``KEEP_VERSIONS`` rule replayed on the jobs that succeeded, emptied when one may have
        failed (so always the most recent of what it holds). A job sends the sources of the
        versions not in it."""

    def holds(self, version: str) -> bool:
        return version in self.recent

    def touched(self, versions: str | tuple[str, ...]) -> None:
        """A job naming ``versions`` succeeded: the worker holds them, the last most recent."""
        for version in (versions,) if isinstance(versions, str) else versions:
            if version in self.recent:
                self.recent.remove(version)
            self.recent.append(version)
        del self.recent[:-KEEP_VERSIONS]

    def _spawn(self) -> None:
        self._start()
        self.wait_ready()

    def wait_ready(self) -> None:
        try:
            if not self.conn.poll(_START_TIMEOUT):
                raise EOFError
            self.conn.recv()
        except (EOFError, OSError) as exc:
            self.kill()
            raise EngineCrashed("engine worker did not start") from exc

    @property
    def pid(self) -> int | None:
        pid: int | None = self.process.pid
        return pid

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)
        self.conn.close()

    def replace(self) -> None:
        global _restarts
        _restarts += 1
        self.kill()
        self._spawn()

    def call_batch(
        self, job: tuple[Any, ...], timeout: float
    ) -> tuple[Any, int, RulesError | None]:
        """Send a batch; wait while the worker makes progress (at most ``timeout`` per lead).

        Returns (reply, 0, None), or (None, index of the lead it died or hung on, error)."""
        self.progress.value = -1
        crashed = False
        try:
            self.conn.send(job)
            last, since = -1, time.monotonic()
            while not self.conn.poll(timeout):
                now, at = self.progress.value, time.monotonic()
                if now != last:
                    last, since = now, at
                    continue
                # Before the first lead the worker may be loading the rulebook: not a hang.
                if at - since >= timeout + (_LOAD_TIMEOUT if now < 0 else 0):
                    break
            else:
                _, items, retire = self.conn.recv()
                self.touched(job[1])
                return (items, retire), 0, None
        except (EOFError, OSError, BrokenPipeError):
            crashed = True
        culprit = max(0, self.progress.value)
        code = self.process.exitcode
        self.replace()
        return None, culprit, batch.crash_or_hang(crashed, code, timeout)

    def call(self, job: tuple[Any, ...], timeout: float) -> Any:
        self.recent = []  # a job that fails may have loaded a version all the same
        try:
            self.conn.send(job)
            ready = self.conn.poll(timeout)
            if ready:
                reply = self.conn.recv()
        except (EOFError, OSError, BrokenPipeError) as exc:
            code = self.process.exitcode
            self.replace()
            raise EngineCrashed(f"engine worker died (exit code {code}); replaced") from exc
        if not ready:
            self.replace()
            raise EngineTimeout(f"evaluation exceeded {timeout:g}s; worker killed and replaced")
        if reply[0] == "error":
            if reply[1] == "EngineError":  # the worker exits after an engine error
                self.replace()
            raise getattr(errors, reply[1], errors.EngineError)(reply[2])
        if job[0] in ("eval", "feedback"):
            self.touched(job[1])
        return reply[1]
