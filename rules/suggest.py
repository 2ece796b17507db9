"""``did you mean`` hints for rule-file errors (shared by the loader and the validator)."""

from __future__ import annotations

import difflib


def suggest(word: str, choices: list[str] | tuple[str, ...], what: str = "") -> str | None:
    """``did you mean `x`?`` for the closest choice, or None."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    if close:
        return f"did you mean `{close[0]}`?"
    if what and choices and len(choices) <= 12:
        return f"valid {what}: {', '.join(choices)}"
    return None
