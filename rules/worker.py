"""The engine worker process: its main loop, one job at a time (the parent is rules/pool.py).

Jobs arrive pickled over a pipe. A batch carries each lead's input as JSON without the reps, and
the reps its leads share once (rules/batch.py); results go back as the plain data
:meth:`Evaluator.decide` returns (pickled: no JSON encoding in the worker, no JSON parsing in
the parent, which validates them from Python data), cut down to what a simulation counts
(rules/brief.py), or packed as the record the bulk job stores (rules/record.py: the inputs
then come as record text too), when the batch asks for that.
"""

from __future__ import annotations

import os
from datetime import datetime
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from rules import batch, pair
from rules.brief import shape as shape_brief
from rules.errors import EngineError, RulesError
from rules.loader import load_rulebook_files
from rules.models import EvaluationInput, FeedbackEvent
from rules.rulebook import Rulebook

if TYPE_CHECKING:
    from rules.evaluator import Evaluator
    from rules.feedback import FeedbackEvaluator

KEEP_VERSIONS = 2
"""Versions compiled in a worker at once: the live one and the one before a swap."""


def worker_main(conn: Connection, progress: Any = None) -> None:
    """Worker loop: one job at a time, rulesets of older versions freed on the next job.
    ``progress`` (shared memory) tells the parent which lead of a batch is being evaluated."""
    evaluators: dict[str, Evaluator] = {}
    feedback: dict[str, FeedbackEvaluator] = {}
    conn.send(("ready", os.getpid()))
    while True:
        try:
            job = conn.recv()
        except (EOFError, KeyboardInterrupt):
            return
        kind = job[0]
        try:
            if kind == "stop":
                return
            if kind == "fault":
                fault(job[1])
            if kind == "pair":
                for version, sources in zip(job[1], job[2], strict=True):
                    _use(evaluators, feedback, version, sources)
                faults, reps = job[4]
                before, after = (evaluators[v] for v in job[1])
                args = (job[3], reps, faults, progress, fault)
                items, retire = pair.run_in_worker(before, after, *args)
                conn.send(("batch", items, retire))
                if retire:
                    return
                continue
            version = job[1]
            _use(evaluators, feedback, version, job[2])
            if kind == "batch":
                explain, faults, reps, *flags = job[4]
                brief, packed = (*flags, False, False)[:2]
                items, retire = batch.run_in_worker(
                    evaluators[version].decide,
                    job[3],
                    reps,
                    explain,
                    faults,
                    progress,
                    fault,
                    shape_brief if brief else None,
                    packed,
                )
                conn.send(("batch", items, retire))
                if retire:
                    return
            elif kind == "eval":
                inp = EvaluationInput.model_validate_json(job[3])
                result = evaluators[version].evaluate(inp, explain=job[4])
                conn.send(("ok", result.model_dump_json()))
            else:
                events = [FeedbackEvent.model_validate(e) for e in job[3]]
                adjustments = feedback[version].evaluate(events, datetime.fromisoformat(job[4]))
                conn.send(("ok", [a.model_dump(mode="json") for a in adjustments]))
        except EngineError as exc:
            # The engine may hold a session it could not free: answer, then let the pool
            # replace this process instead of carrying a damaged engine.
            conn.send(("error", type(exc).__name__, str(exc)))
            return
        except RulesError as exc:
            conn.send(("error", type(exc).__name__, str(exc)))
        except Exception as exc:  # a bug, not the engine: report it, keep serving
            conn.send(("error", "RulesError", f"{type(exc).__name__}: {exc}"))


def _use(
    evaluators: dict[str, Evaluator],
    feedback: dict[str, FeedbackEvaluator],
    version: str,
    sources: Any,
) -> None:
    """Make ``version`` the most recently used, compiling it from ``sources`` if new; free
    the versions beyond the last ``KEEP_VERSIONS``."""
    from rules.evaluator import Evaluator
    from rules.feedback import FeedbackEvaluator

    if version in evaluators:  # most recently used last
        evaluators[version] = evaluators.pop(version)
        feedback[version] = feedback.pop(version)
        return
    book = (
        sources
        if isinstance(sources, Rulebook)  # parsed by the parent: no YAML again
        else load_rulebook_files(sources, root=f"<version {version[:12]}>")
    )
    evaluators[version] = Evaluator(book)
    feedback[version] = FeedbackEvaluator(book)
    # Keep the previous version too: work that started before a live swap finishes on it
    # without compiling it again; older ones are freed.
    for old in list(evaluators)[:-KEEP_VERSIONS]:
        evaluators.pop(old).close()
        feedback.pop(old).close()


def fault(kind: str) -> None:
    """Deliberate failures for containment tests and drills."""
    if kind == "exit":
        os._exit(3)
    if kind == "segfault":
        import ctypes

        ctypes.string_at(0)
    if kind == "hang":
        while True:
            pass
