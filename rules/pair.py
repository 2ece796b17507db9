"""Pair batches: each lead decided by two rulebook versions in one worker round trip.

A simulation decides every lead with the active version ("before") and a candidate ("after").
As two batches, each lead's input crossed the pipe twice and was read twice in the workers, and
its facts were built twice. As one pair batch the worker holds both versions, reads each input
once (in record form, rules/record.py: the parent builds no model) and, when both versions build
the same facts of an input (same fields, regexes, windows, lookback and scores:
``Evaluator.fact_key``), builds them once and asserts them into both versions' rulesets. Each
decision is brief (``Evaluator.decide_brief``: what rules/brief.py's ``shape`` keeps, nothing
else computed). Some leads are decided by "after" only (``both`` false: the simulation's check
of leads staying at the handoff stage).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rules import batch, record
from rules.brief import BriefOutcome
from rules.brief import decode as decode_brief
from rules.errors import EngineError, RulesError
from rules.models import RepData
from rules.record import PackedInput
from rules.rulebook import Rulebook

if TYPE_CHECKING:
    from rules.evaluator import Evaluator
    from rules.facts import Facts

PairOutcome = tuple[BriefOutcome | None, BriefOutcome]
"""A lead's (before, after): before is None for a lead decided by "after" only."""


def pack(inputs: list[PackedInput], both: list[bool]) -> tuple[list[tuple[Any, int]], list[str]]:
    """The payload (each lead's rows and whether "before" decides it too, and its reps'
    index) and the reps, encoded once per distinct list (:func:`rules.batch.pack_records`)."""
    items, reps = batch.pack_records(inputs)
    payload = [((rows, two), group) for ((rows, _), group), two in zip(items, both, strict=True)]
    return payload, reps


def sources(
    recent: list[str], books: tuple[Rulebook, ...], keep: int
) -> tuple[Rulebook | None, ...]:
    """What a pair job sends of each version: nothing where the worker still holds it when the
    job gets to it (``recent``: the worker's compiled versions, least recently used first; the
    worker loads the versions in order and keeps the last ``keep``)."""
    held = list(recent)
    out: list[Rulebook | None] = []
    for book in books:
        out.append(None if book.version in held else book)
        if book.version in held:
            held.remove(book.version)
        held.append(book.version)
        del held[:-keep]
    return tuple(out)


def decode(item: Any) -> PairOutcome:
    """Parent side: the worker's (before, after) items as outcomes."""
    before, after = item
    return (None if before is None else decode_brief(before), decode_brief(after))


def _error(exc: Exception) -> tuple[str, str, str]:
    if isinstance(exc, RulesError):
        return ("error", type(exc).__name__, str(exc))
    return ("error", "RulesError", f"{type(exc).__name__}: {exc}")  # a bug, not the engine


def run_in_worker(
    before: Evaluator,
    after: Evaluator,
    payload: list[tuple[Any, int]],
    reps: list[str],
    faults: dict[int, str],
    progress: Any,
    fault: Any,
) -> tuple[list[Any], bool]:
    """Worker side: each lead's (before or None, after) brief tuples or error items, and
    whether to retire (an engine error: after answering for that lead, as
    :func:`rules.batch.run_in_worker` does)."""
    out: list[Any] = []
    tables: list[list[RepData] | None] = [None] * len(reps)
    same_facts = before.fact_key == after.fact_key
    for i, ((rows, both), group) in enumerate(payload):
        progress.value = i
        if i in faults:
            fault(faults[i])
        try:
            inp = record.input_of(rows, batch.shared_reps(tables, reps, group) or [])
        except Exception as exc:  # the input itself: both fail alike
            failed = _error(exc)
            out.append((failed if both else None, failed))
            continue
        facts: Facts | None = None
        if both and same_facts:
            try:
                facts = after.facts_of(inp)
            except Exception:  # each evaluator then fails (or not) on its own, as apart
                facts = None
        retire = False
        decided: list[Any] = []
        for evaluator in (before, after) if both else (after,):
            try:
                decided.append(evaluator.decide_brief(inp, facts))
            except EngineError as exc:  # the engine may hold a session it could not free
                decided.append(_error(exc))
                retire = True
            except Exception as exc:
                decided.append(_error(exc))
        out.append((decided[0], decided[1]) if both else (None, decided[0]))
        if retire:
            return out, True
    return out, False
