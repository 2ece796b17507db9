"""Rule regexes run on RE2: linear time in the text, so no rule can hang an evaluation.

Python's ``re`` backtracks: ``(a+)+b`` against a long run of ``a`` takes exponential time, and a
rule file is user input. RE2 (the google-re2 package) guarantees linear-time matching and
refuses what it cannot do in linear time (backreferences, lookaround); ``rules check`` reports
those with the RE2 message. A regex always matches the whole value (``fullmatch``).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache, lru_cache
from typing import Protocol, cast

import re2
from re2 import _re2


class Regex(Protocol):
    """The part of a compiled pattern rules/ uses."""

    def fullmatch(self, text: str) -> object | None: ...


class RegexError(ValueError):
    """RE2 cannot compile the pattern; the message is RE2's."""


def _options(ignore_case: bool) -> re2.Options:
    options = re2.Options()
    options.log_errors = False  # errors become RuleFileErrors, not stderr noise
    options.case_sensitive = not ignore_case
    return options


@cache
def compile_regex(pattern: str, ignore_case: bool = False) -> Regex:
    """A compiled RE2 pattern; raises :class:`RegexError` when RE2 refuses it."""
    try:
        return cast(Regex, re2.compile(pattern, _options(ignore_case)))
    except re2.error as exc:
        detail = exc.args[0] if exc.args else exc
        if isinstance(detail, bytes):
            detail = detail.decode("utf-8", "replace")
        raise RegexError(str(detail)) from None


def regex_problem(pattern: str) -> str | None:
    """Why ``pattern`` is not a usable rule regex, or None."""
    try:
        compile_regex(pattern)
    except RegexError as exc:
        return f"regex does not compile (RE2 syntax): {exc}"
    return None


def fullmatcher(pattern: Regex) -> Callable[[str], bool]:
    """``text → pattern.fullmatch(text) is not None``, without building a match object.

    The re2 wrapper's ``fullmatch`` maps byte offsets back to characters for every call; the
    evaluator only needs yes/no, so it calls RE2 anchored at both ends on the UTF-8 bytes
    (same answer: one RE2 match, no offsets). Falls back to ``fullmatch`` for other objects.
    Answers are cached per text (lead titles repeat a lot; bounded)."""
    raw = getattr(pattern, "_regexp", None)
    anchor = getattr(getattr(_re2, "RE2", None), "ANCHOR_BOTH", None)
    if raw is None or anchor is None:

        def slow(text: str) -> bool:
            return pattern.fullmatch(text) is not None

        return lru_cache(maxsize=4096)(slow)
    match = raw.Match
    miss = (-1, -1)

    def fast(text: str) -> bool:
        data = text.encode("utf-8")
        return bool(match(anchor, data, 0, len(data))[0] != miss)

    return lru_cache(maxsize=4096)(fast)
