"""Batches of evaluations in one worker round trip, with containment per lead.

The worker evaluates a batch in order and records in shared memory which lead it is on. The
parent waits for the one reply; if the worker dies or makes no progress for the timeout, the
lead it was on gets :class:`EngineCrashed` / :class:`EngineTimeout`, the worker is replaced, and
the other leads of the batch are sent again (results of a dead worker are lost with it). An
engine error on one lead retires the worker after it answered for the leads before it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import TypeAdapter

from rules import errors, record
from rules.errors import EngineCrashed, EngineError, EngineTimeout, RulesError
from rules.models import EvaluationInput, EvaluationResult, RepData
from rules.record import PackedInput, PackedResult

Outcome = EvaluationResult | RulesError
"""One lead's answer: its result, or the typed error that lead alone caused."""


_REPS: TypeAdapter[list[RepData]] = TypeAdapter(list[RepData])


def shared_reps(
    tables: list[list[RepData] | None], reps: list[str], group: int
) -> list[RepData] | None:
    """Worker side: the reps table of ``group`` (-1: none), validated on its first lead and
    shared by the others (``tables`` holds what was validated so far)."""
    if group < 0:
        return None
    shared = tables[group]
    if shared is None:
        shared = tables[group] = _REPS.validate_json(reps[group])
    return shared


def pack(inputs: list[EvaluationInput]) -> tuple[list[tuple[str, int]], list[str]]:
    """The inputs as the worker takes them: each lead's JSON without the reps, and the index of
    its reps list in the second item (the JSON of each distinct list, once: in a bulk run every
    lead carries the same reps, which were most of every input's JSON)."""
    groups: dict[tuple[int, ...], int] = {}
    tables: list[str] = []
    items: list[tuple[str, int]] = []
    for inp in inputs:
        group = -1
        if inp.reps:
            # Validation copies the list, not the (frozen) reps in it: the same reps are the
            # same objects.
            key = tuple(map(id, inp.reps))
            group = groups.get(key, -1)
            if group < 0:
                group = groups[key] = len(tables)
                tables.append(_REPS.dump_json(inp.reps).decode())
        items.append((inp.model_dump_json(exclude={"reps"}), group))
    return items, tables


def pack_records(
    inputs: list[PackedInput],
) -> tuple[list[tuple[tuple[record.Rows, str | None], int]], list[str]]:
    """:func:`pack` for inputs as read (rules/record.py): each lead's values, not encoded, and
    the reps encoded once per distinct list."""
    groups: dict[int, int] = {}
    tables: list[str] = []
    items: list[tuple[tuple[record.Rows, str | None], int]] = []
    for inp in inputs:
        group = -1
        if inp.reps:
            group = groups.get(id(inp.reps), -1)  # the lists live as long as ``inputs``
            if group < 0:
                group = groups[id(inp.reps)] = len(tables)
                tables.append(_REPS.dump_json(inp.reps).decode())
        items.append(((inp.rows, inp.in_force), group))
    return items, tables


def run_in_worker(
    decide: Callable[..., dict[str, Any]],
    payload: list[tuple[Any, int]],
    reps: list[str],
    explain: bool,
    faults: dict[int, str],
    progress: Any,
    fault: Callable[[str], None],
    shape: Callable[[dict[str, Any]], Any] | None = None,
    packed: bool = False,
) -> tuple[list[Any], bool]:
    """Worker side: each lead's result as ``Evaluator.decide``'s plain data (pickled back, no
    JSON), or cut down by ``shape`` (rules/brief.py), or ``("error", type, message)``; and
    whether to retire. ``packed``: inputs come as :data:`rules.record.Rows` and results go back
    as :class:`rules.record.PackedResult`."""
    out: list[Any] = []
    tables: list[list[RepData] | None] = [None] * len(reps)
    for i, (raw, group) in enumerate(payload):
        progress.value = i
        if i in faults:
            fault(faults[i])
        try:
            shared = shared_reps(tables, reps, group)
            if packed:
                rows, in_force = raw
                inp = record.input_of(rows, shared or [])
                out.append(record.pack(decide(inp, explain=explain), rows, in_force))
                continue
            inp = EvaluationInput.model_validate_json(raw)
            if shared is not None:
                inp = inp.model_copy(update={"reps": shared})
            decided = decide(inp, explain=explain)
            out.append(decided if shape is None else shape(decided))
        except EngineError as exc:  # the engine may hold a session it could not free
            out.append(("error", type(exc).__name__, str(exc)))
            return out, True
        except RulesError as exc:
            out.append(("error", type(exc).__name__, str(exc)))
        except Exception as exc:  # a bug, not the engine: this lead fails, the rest go on
            out.append(("error", "RulesError", f"{type(exc).__name__}: {exc}"))
    return out, False


def _decode(item: Any) -> Outcome:
    if isinstance(item, dict):  # validated from Python data: no JSON to parse
        return EvaluationResult.model_validate(item)
    return _error(item)


def decode_packed(item: Any) -> PackedResult | RulesError:
    """A lead's answer from a packed batch: its :class:`PackedResult` or its typed error."""
    if isinstance(item, PackedResult):
        return item
    return _error(item)


def decode_plain(item: Any) -> dict[str, Any] | RulesError:
    """A lead's answer as the worker's plain data (``Evaluator.decide``'s fields, not
    validated again: the engine built them), for callers that only reshape them into rows
    (the bulk writer); errors are typed as by :func:`_decode`."""
    if isinstance(item, dict):
        return item
    return _error(item)


def _error(item: Any) -> RulesError:
    error_type = getattr(errors, item[1], errors.EngineError)
    error: RulesError = error_type(item[2])
    return error


def run_on(
    worker: Any,
    job: Callable[[list[tuple[Any, int]], dict[int, str]], tuple[Any, ...]],
    payload: list[tuple[Any, int]],
    timeout: float,
    faults: dict[int, str] | None = None,
    decode: Callable[[Any], Any] = _decode,
) -> list[Any]:
    """Parent side: evaluate ``payload`` on ``worker`` (a ``rules.pool._Worker``), replacing it
    as often as leads crash or hang it. Every lead gets an outcome (``decode``'s, by default an
    :data:`Outcome`; a :class:`rules.brief.BriefResult` for brief batches;
    :func:`decode_plain`'s plain data for the bulk job)."""
    faults = dict(faults or {})
    outcomes: list[Any] = [None] * len(payload)
    pending = list(range(len(payload)))
    while pending:
        positions = {orig: pos for pos, orig in enumerate(pending)}
        chunk_faults = {positions[i]: kind for i, kind in faults.items() if i in positions}
        reply, culprit, error = worker.call_batch(
            job([payload[i] for i in pending], chunk_faults), timeout
        )
        if reply is not None:
            items, retire = reply
            for pos, item in enumerate(items):
                outcomes[pending[pos]] = decode(item)
            if retire:
                worker.replace()
            pending = pending[len(items) :]
            continue
        lead = pending[culprit]
        outcomes[lead] = error
        faults.pop(lead, None)
        pending = pending[:culprit] + pending[culprit + 1 :]
    return [o if o is not None else EngineCrashed("lead not evaluated") for o in outcomes]


def crash_or_hang(crashed: bool, code: int | None, timeout: float) -> RulesError:
    if crashed:
        return EngineCrashed(f"engine worker died on this lead (exit code {code}); replaced")
    return EngineTimeout(f"evaluation exceeded {timeout:g}s; worker killed and replaced")
