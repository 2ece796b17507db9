"""YAML rule files with positions: every node keeps the line and column it was written at."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from rules import conditions as c


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
