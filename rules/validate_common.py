"""Helpers shared by the semantic checks: located errors and the rules that carry conditions."""

from __future__ import annotations

from collections.abc import Iterator

from rules import conditions as c
from rules.errors import RuleFileError
from rules.rulebook import Rulebook


def err(loc: c.Loc, rule: str | None, msg: str, hint: str | None = None) -> RuleFileError:
    """A :class:`RuleFileError` at ``loc``."""
    return RuleFileError(loc.file, loc.line, loc.column, rule, msg, hint)


def rules_with_conditions(book: Rulebook) -> Iterator[tuple[str, str, c.Condition, c.Loc]]:
    """(name, section, condition, location) of every rule with a ``when``."""
    for s in book.signals:
        yield s.name, "signals", s.when, s.loc
    for t in book.transitions:
        yield t.name, t.section, t.when, t.loc
    for r in book.routing.routes:
        yield r.name, "routing", r.when, r.loc
    for p in book.sla.rules:
        yield p.name, "sla", p.when, p.loc
