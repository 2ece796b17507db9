"""Fact keys and values as the engine sees them: flat field names, numbers it accepts (no
exponent form, error 204), activity ages and windows in integer microseconds, regex results as
boolean fields. Shared by the compiler, the fact builder, the explainer and the evaluator."""

from __future__ import annotations

import hashlib
import json
import json.encoder
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from rules import conditions as c
from rules import limits

SUBJECT_1 = "s1"
"""Kind (``k``) of the subject fact of round 1 (signals)."""
SUBJECT_2 = "s2"
"""Kind of the subject fact of round 2 (stage, routing, SLA rules), scores included."""
ACTIVITY = "a"
"""Kind of an activity fact."""


def fact_field(path: str) -> str:
    """``lead.country`` → ``lead__country`` (flat fact keys; never ``id``/``sid``)."""
    return path.replace(".", "__")


def number(x: float) -> float | int:
    """A number the engine accepts: no exponent form (error 204), integral values as int."""
    if x != x:  # NaN
        return 0
    if x > _MAX:
        x = _MAX
    elif x < -_MAX:
        x = -_MAX
    as_float = float(x)
    if as_float.is_integer():
        return int(x)
    if -_MIN < x < _MIN:
        return 0
    return as_float  # repr() has no exponent in [1e-4, 1e16): exact, never rounded


_MAX, _MIN = limits.MAX_ABS_NUMBER, limits.MIN_ABS_FRACTION


MICROS_PER_DAY = 86_400_000_000
"""Activity ages and windows are integer microseconds: exact edges, no float drift."""


def seconds(days: float) -> int:
    return round(days * 86400)


def micros(days: float) -> int:
    """A window in days as integer microseconds (the unit of activity ``age`` and ``t``)."""
    return round(days * MICROS_PER_DAY)


def regex_key(cmp: c.Compare) -> str:
    """Fact field holding the result of one regex test (same test, same key)."""
    text = f"{cmp.field}\0{cmp.value}\0{int(cmp.ignore_case)}"
    return "rx_" + hashlib.sha1(text.encode()).hexdigest()[:12]


def _fact_encoder() -> Callable[[dict[str, Any]], str]:
    """``json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode``, same text, without
    the per-call set-up: that ``encode`` builds CPython's C encoder on every call (a third of its
    cost on a subject fact); this one is built once. Facts are flat: no circular check needed."""
    encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # no C accelerator: the plain encoder
        return encoder.encode
    chunks = make(None, encoder.default, json.encoder.encode_basestring, None, ":", ",", False,
                  False, True)  # fmt: skip

    def encode(fact: dict[str, Any]) -> str:
        return "".join(chunks(fact, 0))

    return encode


encode_fact = _fact_encoder()
"""A fact (a flat dict) as the JSON text the engine is given."""


json_string = json.encoder.encode_basestring
"""A string as JSON text (not ASCII-escaped: ``ensure_ascii=False``)."""


class FactWriter:
    """Subject facts as engine JSON, field by field: the same text as :data:`encode_fact` gives
    for the same dict (keys in the same order), for a fraction of its cost. The C encoder
    escapes every key and string again on each call; here each key is escaped once per
    rulebook and string values once per distinct value (they repeat a lot across leads)."""

    def __init__(self, keys: Iterable[str]) -> None:
        self.keys = [(key, json_string(key) + ":") for key in keys]
        """(key, its JSON and the colon), in the order the fact lists them."""
        self._strings: dict[str, str] = {}

    def fields(self, values: Mapping[str, Any]) -> list[str]:
        """``"key":value`` of each key present in ``values``, in order."""
        out = []
        strings = self._strings
        for key, head in self.keys:
            value = values.get(key, _MISSING)
            if value is _MISSING:
                continue
            kind = type(value)
            if kind is str:
                text = strings.get(value)
                if text is None:
                    if len(strings) >= _MAX_STRINGS:
                        strings.clear()
                    text = strings[value] = json_string(value)
            elif kind is bool:
                text = "true" if value else "false"
            elif kind is int or (kind is float and -_INF < value < _INF):
                text = repr(value)
            else:  # anything else exactly as the encoder writes it
                text = encode_fact({key: value})[len(head) + 1 : -1]
            out.append(head + text)
        return out


_MISSING = object()
_INF = float("inf")
_MAX_STRINGS = 20_000
