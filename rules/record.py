"""An evaluation's record, packed where it is decided: in the engine worker.

The bulk job stores each recorded decision as a few JSON columns (``api.evaluations``' compact
record form) and a digest of what was decided (``api.outcomes.decision_digest``). Building
those in the parent, from the worker's plain data, cost the parent more than the rest of its
work per lead; here the worker encodes them once (:func:`pack`) and sends back text and the few
plain values the parent still plans with (:class:`PackedResult`). The parent only adds what
depends on the database (a refused transition, whether the lead is routed).

The input goes to the worker as the values read from the database (:class:`PackedInput`:
``api.bulk_read.read_batch_packed``, no model in the parent); the worker validates it, once,
and sends its record text back with the decision (:func:`rows_text`).

The text equals what ``api.evaluations.pack_result`` / ``pack_input`` and tortoise's JSON field
write (``tests/rules/test_record.py`` and ``tests/api/test_inserts.py`` compare them).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from json.encoder import c_make_encoder, encode_basestring_ascii  # type: ignore[attr-defined]
from typing import Any, NamedTuple

from pydantic import ValidationError

from rules.errors import InvalidInput
from rules.models import AccountData, EvaluationInput, LeadData, RepData, RepShare

FORMAT = 1
"""``api.evaluations.FORMAT``: the compact input form."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)

_COLUMN = c_make_encoder(
    None, json.JSONEncoder().default, encode_basestring_ascii, None, ":", ",", False, False, True
)
"""What tortoise's JSON field writes (``json.dumps(value, separators=(",", ":"))``)."""
_DIGEST = c_make_encoder(
    None, json.JSONEncoder().default, encode_basestring_ascii, None, ": ", ", ", False, False, True
)
"""``json.dumps(key)``'s text, as ``api.outcomes.decision_digest`` hashes it."""


def column_json(value: Any) -> str:
    """A value as a JSON column's text (compact, ASCII)."""
    return "".join(_COLUMN(value, 0))


def digest_json(value: Any) -> str:
    return "".join(_DIGEST(value, 0))


def micros(at: datetime) -> int:
    """Exact integer microseconds since the epoch."""
    return (at - _EPOCH) // _US


def from_micros(us: int) -> datetime:
    return _EPOCH + timedelta(0, 0, us)  # positional: keyword parsing cost more


class PackedResult(NamedTuple):
    """One lead's decision: the record's columns as JSON text, and what planning reads."""

    rulebook_version: str
    input: str
    """The input's record text, without reps (:func:`rows_text`)."""
    from_stage: str
    to_stage: str | None
    rule: str | None
    reason: str | None
    route: str | None
    rep_id: str | None
    why: Any
    shares: tuple[RepShare, ...]
    sla: tuple[str, datetime, datetime | None] | None
    """Priority, deadline and escalation time, when an SLA rule applied."""
    scores: dict[str, float]
    next_change_at: datetime | None
    duration_ms: float
    fired: str
    contributions: str
    score_rows: str
    outcome: str
    """The ``outcome`` column without its last key (``refused_transition``) and closing brace."""
    digest_head: str
    """The digest key's text up to the stage the lead was in."""
    digest_fired: str
    """The digest key's text from the stage the lead was in to the refused transition."""
    digest_route: str
    """The route and rep, as the digest key has them when the lead is routed."""
    digest_tail: str
    """The digest key's text after the routing item."""
    columns: list[Any] | None = None
    """The four columns as data, when the worker left them unencoded (the decision was the
    one in force: no record expected); the text fields are empty then (:meth:`encoded`)."""

    def encoded(self, rows: Rows) -> PackedResult:
        """This result with its record's text (``rows``: its input as read)."""
        if self.columns is None:
            return self
        parts = _encode(self.columns)
        return self._replace(
            input=rows_text(rows), fired=parts[0], contributions=parts[1],
            score_rows=parts[2], outcome=parts[3][:-1], columns=None,
        )  # fmt: skip

    def outcome_json(self, refused: str | None) -> str:
        return f'{self.outcome},"refused_transition":{_quote(refused)}}}'

    def digest_text(self, stage_before: str, refused: str | None, *, routed: bool) -> str:
        """The text ``api.outcomes.decision_digest`` hashes for this decision."""
        route = self.digest_route if routed else "null"
        return (
            f"{self.digest_head}{_quote(stage_before)}{self.digest_fired}"
            f"{_quote(refused)}], {route}{self.digest_tail}"
        )


def _quote(text: str | None) -> str:
    """A string or None as JSON (both encoders write strings alike)."""
    return "null" if text is None else str(encode_basestring_ascii(text))


_GAP = "\x00"
"""Separates the parts of one encoder call; a string holding it makes :func:`pack` encode each
part on its own instead."""
_COLUMN_GAP = ',"\\u0000",'
_DIGEST_GAP = '"\\u0000"'


def pack(decided: dict[str, Any], rows: Rows, in_force: str | None = None) -> PackedResult:
    """``Evaluator.decide``'s data (or a result model's dump) as a :class:`PackedResult`, with
    the text of its input (``rows``, as read: :func:`rows_text`).

    The four JSON columns take one encoder call, the digest's parts another (an encoder call
    costs more than the little text of each part). When the decision's digest is ``in_force``
    (the lead's stored one) with or without routing, nothing will be recorded unless the
    lifecycle guards say otherwise: the columns are left as data (:meth:`PackedResult.encoded`
    writes them if they are needed after all)."""
    stage, routing, sla = decided["stage"], decided["routing"], decided["sla"]
    scores = decided["scores"]
    fired = decided["fired"]
    version = decided["rulebook_version"]
    shares = tuple(routing.get("shares") or ())
    route_row: list[Any] = [routing["route"], routing["rep_id"], routing["why"]]
    if shares:
        route_row.append([s.model_dump(mode="json") for s in shares])
    rule, reason, to_stage = stage.get("rule"), stage.get("reason"), stage["to_stage"]
    columns = [
        [[f["name"], f["section"], f["effect"]] for f in fired],
        [_part(c) for c in decided["contributions"]],
        {n: [s["raw"], s["adjustment"], s["value"], s["cap"]] for n, s in scores.items()},
        {
            "stage": [stage["from_stage"], to_stage, rule, reason],
            "routing": route_row,
            "sla": pack_sla(sla) if sla else None,
        },
    ]
    key = [
        version,
        _GAP,
        sorted([f["name"] for f in fired]),
        [to_stage, rule, reason, _GAP],
        _GAP,
        [sla["rule"], sla["priority"], sla["hours"]] if sla else None,
        {name: round(s["value"]) for name, s in sorted(scores.items())},
        _GAP,
        [routing["route"], routing["rep_id"]],
    ]
    digest = digest_json(key).split(_DIGEST_GAP)
    if len(digest) != 5:
        digest = [
            f"[{digest_json(version)}, ",
            f", {digest_json(key[2])}, [{', '.join(digest_json(v) for v in key[3][:3])}, ",
            "], ",
            f", {digest_json(key[5])}, {digest_json(key[6])}, ",
            f", {digest_json(key[8])}]",
        ]
    digest_head, digest_fired = digest[0], digest[1]
    digest_route, digest_tail = digest[4][2:-1], digest[3][:-2] + "]"
    deferred = False
    if in_force is not None:
        start = f"{digest_head}{_quote(rows[0][9])}{digest_fired}null], "
        deferred = any(
            hashlib.blake2b(f"{start}{route}{digest_tail}".encode(), digest_size=16).hexdigest()
            == in_force
            for route in ("null", digest_route)
        )
    parts = ["", "", "", "}"] if deferred else _encode(columns)
    return PackedResult(
        rulebook_version=version,
        input="" if deferred else rows_text(rows),
        from_stage=stage["from_stage"],
        to_stage=to_stage,
        rule=rule,
        reason=reason,
        route=routing["route"],
        rep_id=routing["rep_id"],
        why=routing["why"],
        shares=shares,
        sla=(sla["priority"], sla["deadline"], sla.get("escalate_at")) if sla else None,
        scores={name: s["value"] for name, s in scores.items()},
        next_change_at=decided["next_change_at"],
        duration_ms=decided["duration_ms"],
        fired=parts[0],
        contributions=parts[1],
        score_rows=parts[2],
        outcome=parts[3][:-1],
        digest_head=digest_head,
        digest_fired=digest_fired,
        digest_route=digest_route,
        digest_tail=digest_tail,
        columns=columns if deferred else None,
    )


def _encode(columns: list[Any]) -> list[str]:
    """The four columns' text, in one encoder call."""
    texts = column_json([columns[0], _GAP, columns[1], _GAP, columns[2], _GAP, columns[3]])
    parts = texts[1:-1].split(_COLUMN_GAP)
    if len(parts) != 4:
        parts = [column_json(c) for c in columns]
    return parts


def _part(c: dict[str, Any]) -> list[Any]:
    return [c["signal"], c["score"], c["points"], c.get("matches", 1), c["decay_factor"],
            c["value"], c.get("activity_age_days")]  # fmt: skip


def pack_sla(sla: dict[str, Any]) -> list[Any]:
    """A record's SLA: four items on the wall clock (the form older rows have), six with a
    business clock or a queued start, seven with an escalation time (issue 16). Shared with
    ``api.evaluations.pack_result``."""
    row: list[Any] = [sla["rule"], sla["priority"], sla["hours"], micros(sla["deadline"])]
    clock, starts_at = sla.get("clock", "wall"), sla.get("starts_at")
    escalate = sla.get("escalate_at")
    if clock != "wall" or starts_at is not None or escalate is not None:
        row += [clock, micros(starts_at) if starts_at else None]
    if escalate is not None:
        row.append(micros(escalate))
    return row


_LEAD = tuple(LeadData.model_fields)
_ACCOUNT = tuple(AccountData.model_fields)

Rows = tuple[tuple[Any, ...], tuple[Any, ...] | None, list[tuple[str, int]], list[Any], int]
"""A lead's input as read: the lead's and its account's field values (in the models' order;
``created_at`` in microseconds since the epoch), its activities (type, microseconds before
``now``), its adjustments (as JSON data) and ``now`` (microseconds since the epoch): the
record's own units, so the worker writes the record text from them as they are."""


class PackedInput(NamedTuple):
    """A lead's input as the values it was read from (:data:`Rows`, validated by the worker
    that evaluates it) and its reps (a batch shares one list, sent once)."""

    rows: Rows
    reps: list[RepData]
    in_force: str | None = None
    """The digest of the lead's decision in force (``pack``'s ``in_force``)."""

    def model(self) -> EvaluationInput:
        return input_of(self.rows, self.reps)


def input_of(rows: Rows, reps: list[RepData]) -> EvaluationInput:
    """The input of a lead's rows, with ``reps``; rows that do not validate are
    :class:`InvalidInput` (that lead fails alone)."""
    lead, account, acts, adjustments, now = rows
    fields = dict(zip(_LEAD, lead, strict=True))
    if fields["created_at"] is not None:
        fields["created_at"] = from_micros(fields["created_at"])
    try:
        return EvaluationInput.model_validate(
            {
                "lead": fields,
                "account": dict(zip(_ACCOUNT, account, strict=True)) if account else {},
                "activities": [
                    {"type": kind, "occurred_at": from_micros(now - ago)} for kind, ago in acts
                ],
                "adjustments": adjustments,
                "reps": reps,
                "now": from_micros(now),
            }
        )
    except ValidationError as exc:
        raise InvalidInput(f"invalid input row: {exc}") from exc


def rows_text(rows: Rows) -> str:
    """The record text (``api.evaluations.pack_input``'s, without reps) of rows that validated
    (:func:`input_of`): validation keeps such values as they are, so they are written as read
    (``tests/api/test_bulk_read.py`` compares with ``pack_input``)."""
    lead, account, acts, adjustments, now = rows
    packed: dict[str, Any] = {
        "v": FORMAT,
        "now": now,
        "lead": {k: v for k, v in zip(_LEAD, lead, strict=True) if v is not None},
        "account": {k: v for k, v in zip(_ACCOUNT, account, strict=True) if v is not None}
        if account
        else {},
        "acts": acts,
    }
    if adjustments:
        packed["adj"] = adjustments
    return column_json(packed)
