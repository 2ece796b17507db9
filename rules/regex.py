"""Rule regexes run on RE2: linear time in the text, so no rule can hang an evaluation.

Python's ``re`` backtracks: ``(a+)+b`` against a long run of ``a`` takes exponential time, and a
rule file is user input. RE2 (the google-re2 package) guarantees linear-time matching and
refuses what it cannot do in linear time (backreferences, lookaround); ``rules check`` reports
those with the RE2 message. A regex always matches the whole value (``fullmatch``).
"""

from __future__ import annotations

from functools import cache
from typing import Protocol, cast

import re2


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
