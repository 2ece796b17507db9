"""YAML rule files with positions: every node keeps the line and column it was written at."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from rules import conditions as c
from rules.errors import RuleFileError


class FileLocs:
    """Positions of YAML nodes of one file."""

    def __init__(self, rel: str) -> None:
        self.rel = rel

    def of(self, node: Any) -> c.Loc:
        lc = getattr(node, "lc", None)
        if lc is None:
            return c.Loc(self.rel, 1, 1)
        return c.Loc(self.rel, lc.line + 1, lc.col + 1)

    def key(self, node: Any, key: Any) -> c.Loc:
        try:
            line, col = node.lc.key(key)
        except (AttributeError, KeyError, TypeError):
            return self.of(node)
        return c.Loc(self.rel, line + 1, col + 1)

    def value(self, node: Any, key: Any) -> c.Loc:
        try:
            if isinstance(node, CommentedSeq):
                line, col = node.lc.item(key)
            else:
                line, col = node.lc.value(key)
        except (AttributeError, KeyError, TypeError, IndexError):
            return self.of(node)
        return c.Loc(self.rel, line + 1, col + 1)


def conditions_of(section: Any, body: Any) -> list[tuple[Any, Any]]:
    """(rule node, condition node) pairs of a section."""
    items: list[Any] = []
    if section in ("signals", "qualification", "disqualification"):
        items = list(body)
    elif section == "routing":
        items = list(body.get("routes", []))
    elif section == "sla":
        items = list(body.get("rules", []))
    return [(n, n["when"]) for n in items if isinstance(n, CommentedMap) and "when" in n]


def where(path: list[Any]) -> str:
    shown = [str(p) for p in path if not isinstance(p, int)]
    return f" in `{'.'.join(shown)}`" if shown else ""


def short(message: str) -> str:
    return message if len(message) < 160 else message[:157] + "..."


def plain(node: Any) -> Any:
    """ruamel containers → plain dicts/lists (examples are fed to pydantic)."""
    if isinstance(node, Mapping):
        return {str(k): plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [plain(v) for v in node]
    return node


def yaml_error(rel: str, exc: MarkedYAMLError) -> RuleFileError:
    """A YAML syntax error at the place to fix.

    An unclosed ``{`` or ``[`` is only noticed on a later line; blame the bracket that was
    never closed, and say where the parser gave up.
    """
    problem = str(exc.problem or exc)
    start, mark = exc.context_mark, exc.problem_mark
    context = str(exc.context or "")
    if start is not None and mark is not None and "flow" in context and start.line < mark.line:
        kind = "{" if "mapping" in context else "["
        return RuleFileError(
            rel,
            start.line + 1,
            start.column + 1,
            None,
            f"YAML error: this `{kind}` is never closed ({problem} at line {mark.line + 1})",
            f"close it with `{'}' if kind == '{' else ']'}` on line {start.line + 1}",
        )
    mark = mark or start
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    return RuleFileError(rel, line, col, None, f"YAML error: {problem}")
