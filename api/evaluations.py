"""Evaluation records: what was decided and what from, in a compact form, and "why not" on demand.

A record keeps the rulebook version, the input (compact: timestamps as integer microseconds,
activities as ``[type, µs before now]``, reps only when routing ran), fired rules with their
effects, score contributions, scores and the stage/routing/SLA outcome. The failed conditions
of the rules that did not fire are not stored: :func:`why_not` replays the stored input on the
stored rulebook version (rules.WhyNot). Rows written before the compact form are read too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from typing import Any

from api.models import Evaluation, RulebookVersion
from api.rulebook_store import load_stored
from rules import (
    EvaluationInput,
    EvaluationResult,
    RuleExplanation,
    WhyNot,
)
from rules.record import pack_sla

FORMAT = 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_LEAD_TIMES = ("created_at",)


def micros(at: datetime) -> int:
    """Exact integer microseconds since the epoch (floats would lose the last digit)."""
    return (at - _EPOCH) // _US


def from_micros(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def pack_input(inp: EvaluationInput, *, routed: bool) -> dict[str, Any]:
    """The input in compact form; ``routed`` False drops the reps (routing did not run, so they
    took no part in the decision). Activity properties are not read by any rule: not stored."""
    now = micros(inp.now)
    # the models' field values as they are (flat, frozen): what ``model_dump`` would copy
    lead = {k: v for k, v in vars(inp.lead).items() if v is not None}
    for key in _LEAD_TIMES:
        if key in lead:
            lead[key] = micros(lead[key])
    packed: dict[str, Any] = {
        "v": FORMAT,
        "now": now,
        "lead": lead,
        "account": {k: v for k, v in vars(inp.account).items() if v is not None},
        "acts": [[a.type, now - micros(a.occurred_at)] for a in inp.activities],
    }
    if inp.adjustments:
        packed["adj"] = [a.model_dump(mode="json") for a in inp.adjustments]
    if routed and inp.reps:
        packed["reps"] = [r.model_dump(mode="json", exclude_defaults=True) for r in inp.reps]
    return packed


def unpack_input(data: dict[str, Any]) -> EvaluationInput:
    """Rebuild the input a record was decided from (either storage format)."""
    if data.get("v") != FORMAT:
        return EvaluationInput.model_validate(data)
    now = data["now"]
    lead = dict(data["lead"])
    for key in _LEAD_TIMES:
        if key in lead:
            lead[key] = from_micros(lead[key])
    return EvaluationInput.model_validate(
        {
            "lead": lead,
            "account": data["account"],
            "activities": [
                {"type": kind, "occurred_at": from_micros(now - ago)} for kind, ago in data["acts"]
            ],
            "adjustments": data.get("adj", []),
            "reps": data.get("reps", []),
            "now": from_micros(now),
        }
    )


Plain = dict[str, Any]
"""A result as ``rules.Evaluator.decide`` returns it: :class:`EvaluationResult`'s fields as
dicts and lists (routing shares as ``RepShare`` models). The bulk path takes the workers' plain
data as it is (built by the engine: not validated again per lead)."""


def plain_result(result: EvaluationResult | Plain) -> Plain:
    """The plain data of a result; a model (the single-lead path) is dumped to it."""
    if isinstance(result, dict):
        return result
    data = result.model_dump(exclude={"not_fired": True, "routing": {"shares"}})
    data["routing"]["shares"] = result.routing.shares
    return data


def pack_result(result: EvaluationResult | Plain) -> dict[str, Any]:
    """The decided part of a result as record columns (no "why not", no input)."""
    data = plain_result(result)
    stage, sla = data["stage"], data["sla"]
    return {
        "fired": [[f["name"], f["section"], f["effect"]] for f in data["fired"]],
        "contributions": [
            [c["signal"], c["score"], c["points"], c.get("matches", 1), c["decay_factor"],
             c["value"], c.get("activity_age_days")]
            for c in data["contributions"]
        ],
        "scores": {n: [s["raw"], s["adjustment"], s["value"], s["cap"]]
                   for n, s in data["scores"].items()},
        "outcome": {
            "stage": [stage["from_stage"], stage["to_stage"], stage.get("rule"),
                      stage.get("reason")],
            "routing": _pack_routing(data["routing"]),
            "sla": pack_sla(sla) if sla else None,
        },
    }  # fmt: skip


_FIRED = ("name", "section", "effect")
_PART = ("signal", "score", "points", "matches", "decay_factor", "value", "activity_age_days")
_SCORE = ("raw", "adjustment", "value", "cap")
_STAGE = ("from_stage", "to_stage", "rule", "reason")
ROUTING_KEYS = _ROUTING = ("route", "rep_id", "why")
_SLA = ("rule", "priority", "hours", "deadline", "clock", "starts_at", "escalate_at")


def _pack_routing(routing: Plain) -> list[Any]:
    """Three items (the form older rows have), four when the pick moved the routing ledger
    (issue 16: the ledger rows it wrote, so a replay shows the same counts)."""
    row: list[Any] = [routing["route"], routing["rep_id"], routing["why"]]
    shares = routing.get("shares")
    if shares:
        row.append([s.model_dump(mode="json") for s in shares])
    return row


def _unpack_routing(row: Any) -> Any:
    if not isinstance(row, list):
        return row
    routing = dict(zip(_ROUTING, row[:3], strict=True))
    if len(row) > 3:
        routing["shares"] = row[3]
    return routing


def _named(keys: tuple[str, ...], row: Any) -> Any:
    return dict(zip(keys, row, strict=True)) if isinstance(row, list) else row


def stored_result(row: Evaluation) -> EvaluationResult:
    """The result as the engine returned it, without "why not" (see :func:`why_not`)."""
    outcome = row.outcome
    packed: Any = outcome["sla"]
    sla: dict[str, Any] | None = (
        dict(zip(_SLA, packed, strict=False)) if isinstance(packed, list) else packed
    )
    for key in ("deadline", "starts_at", "escalate_at"):
        if sla is not None and isinstance(sla.get(key), int):
            sla[key] = from_micros(sla[key])
    return EvaluationResult.model_validate(
        {
            "rulebook_version": row.rulebook_version,
            "fired": [_named(_FIRED, f) for f in row.fired],
            "contributions": [_named(_PART, c) for c in row.contributions],
            "scores": {
                name: {"name": name, **_named(_SCORE, s)} if isinstance(s, list) else s
                for name, s in row.scores.items()
            },
            "stage": _named(_STAGE, outcome["stage"]),
            "routing": _unpack_routing(outcome["routing"]),
            "sla": sla,
            "not_fired": [],
            "duration_ms": row.duration_ms,
            "next_change_at": row.next_change_at,
        }
    )


class Explainers:
    """One :class:`WhyNot` per rulebook version, loaded from its stored files once."""

    def __init__(self, limit: int = 8) -> None:
        self._cache: dict[str, WhyNot | None] = {}
        self._limit = limit
        self._lock = asyncio.Lock()  # a page of evaluations asks at once: load a version once

    def add(self, why_not: WhyNot) -> None:
        self._cache[why_not.version] = why_not

    async def get(self, version: str) -> WhyNot | None:
        """None when no stored rulebook has that version (remembered: asked once)."""
        if version in self._cache:
            return self._cache[version]
        async with self._lock:
            if version in self._cache:
                return self._cache[version]
            return await self._load(version)

    async def _load(self, version: str) -> WhyNot | None:
        row = await RulebookVersion.get_or_none(version=version)
        found = None
        if row is not None:
            found = WhyNot(await load_stored(row))  # thawed off the loop, not parsed on it
        if len(self._cache) >= self._limit:
            self._cache.pop(next(iter(self._cache)))
        self._cache[version] = found
        return found


async def why_not(
    row: Evaluation,
    explainers: Explainers,
    *,
    result: EvaluationResult | None = None,
    only: Collection[str] | None = None,
) -> list[RuleExplanation]:
    """Failed conditions of the rules that did not fire, replayed from the stored record."""
    explainer = await explainers.get(row.rulebook_version)
    if explainer is None:  # the version's files are gone: nothing to replay against
        return []
    return _not_fired(explainer, unpack_input(row.input), result or stored_result(row), only)


async def why_not_now(
    fact_input: EvaluationInput,
    result: EvaluationResult,
    explainers: Explainers,
    *,
    only: Collection[str] | None = None,
) -> list[RuleExplanation]:
    """ "Why not" of a result just decided, from the input it ran on (evaluateLead asks the
    engine for none: most answers show a remembered headline or no report at all)."""
    explainer = await explainers.get(result.rulebook_version)
    if explainer is None:
        return []
    return _not_fired(explainer, fact_input, result, only)


def _not_fired(
    explainer: WhyNot,
    fact_input: EvaluationInput,
    result: EvaluationResult,
    only: Collection[str] | None,
) -> list[RuleExplanation]:
    return explainer.not_fired(
        fact_input,
        fired=set(result.fired_names),
        scores={name: s.value for name, s in result.scores.items()},
        only=only,
    )
