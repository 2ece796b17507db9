"""Shape checks of one rule file: the shipped JSON Schema, then condition shapes.

Schema errors are mapped back to the YAML node that caused them (file, line, column, rule).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

import jsonschema
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from rules import conditions as c
from rules.errors import RuleFileError
from rules.suggest import suggest
from rules.yaml_source import FileLocs, conditions_of, short, where

CONDITION_KINDS = ("all", "any", "not", "activity", "sequence")
MAX_DEPTH = 40
"""YAML nesting levels in one rule file (the demo needs 7); deeper is a generated mistake."""
_RANGE = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")


@cache
def rulebook_schema() -> dict[str, Any]:
    """The JSON Schema shipped in the package (also usable by editors)."""
    text = resources.files("rules").joinpath("rulebook.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


class ShapeChecker:
    """Collects the shape errors of the files it is shown."""

    def __init__(self) -> None:
        self.errors: list[RuleFileError] = []

    def error(self, loc: c.Loc, rule: str | None, msg: str, hint: str | None = None) -> None:
        self.errors.append(RuleFileError(loc.file, loc.line, loc.column, rule, msg, hint))

    def check(self, locs: FileLocs, doc: CommentedMap) -> None:
        """Schema errors of one file, then the condition shapes the schema cannot express."""
        if self._values(locs, doc):
            return  # NaN or runaway nesting: the schema check would mislead or recurse
        validator = jsonschema.Draft202012Validator(rulebook_schema())
        for err in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.path))):
            self._schema_error(locs, doc, err)
        self._condition_shapes(locs, doc)

    def _values(self, locs: FileLocs, doc: CommentedMap) -> bool:
        """Non-finite numbers and nesting deeper than :data:`MAX_DEPTH`, found iteratively."""
        found = False
        stack: list[tuple[Any, Any, Any, int, str | None]] = [(doc, None, None, 1, None)]
        while stack:
            node, parent, key, depth, rule = stack.pop()
            loc = locs.value(parent, key) if parent is not None else locs.of(node)
            if depth > MAX_DEPTH:
                self.error(
                    loc,
                    rule,
                    f"nested deeper than {MAX_DEPTH} levels",
                    "flatten the condition: `all`/`any` take lists, so nest lists not levels",
                )
                return True
            if isinstance(node, float) and not math.isfinite(node):
                shown = ".nan" if node != node else (".inf" if node > 0 else "-.inf")
                self.error(loc, rule, f"`{shown}` is not a number a rule can use", "write a number")
                found = True
            children: list[tuple[Any, Any]] = []
            if isinstance(node, CommentedMap):
                if isinstance(node.get("name"), str):
                    rule = str(node["name"])
                children = list(node.items())
            elif isinstance(node, CommentedSeq):
                children = list(enumerate(node))
            for k, child in reversed(children):
                stack.append((child, node, k, depth + 1, rule))
        return found

    def _schema_error(self, locs: FileLocs, doc: Any, err: jsonschema.ValidationError) -> None:
        path = list(err.absolute_path)
        node, parent, rule = doc, None, None
        for step in path:
            parent = node
            node = node[step]
            if isinstance(node, CommentedMap) and isinstance(node.get("name"), str) and not rule:
                rule = str(node["name"])
        loc = locs.value(parent, path[-1]) if path and parent is not None else locs.of(node)
        if err.validator == "additionalProperties" and isinstance(node, CommentedMap):
            schema = err.schema if isinstance(err.schema, Mapping) else {}
            allowed = list(schema.get("properties", {}))
            for key in node:
                if key not in allowed:
                    what = "operator or key" if "field" in node else "key"
                    self.error(
                        locs.key(node, key),
                        rule,
                        f"unknown {what} `{key}`{where(path)}",
                        suggest(str(key), allowed, "keys"),
                    )
            return
        if err.validator == "required":
            missing = err.message.split("'")[1] if "'" in err.message else err.message
            # A mapping under a key is blamed at its key (its first line may be another key).
            at = locs.key(parent, path[-1]) if isinstance(parent, CommentedMap) else locs.of(node)
            self.error(at, rule, f"missing required key `{missing}`{where(path)}")
            return
        if err.validator == "enum":
            choices = [str(x) for x in err.validator_value]  # type: ignore[union-attr]
            self.error(
                loc,
                rule,
                f"invalid value {node!r}{where(path)}",
                suggest(str(node), choices, "values"),
            )
            return
        if err.validator in _RANGE:
            self.error(loc, rule, f"{_short_number(err.message)}{where(path)}", _range(err.schema))
            return
        if err.validator == "pattern":
            self.error(
                loc,
                rule,
                f"invalid name {node!r}{where(path)}",
                "use lower_snake_case: a letter then letters, digits or _",
            )
            return
        self.error(loc, rule, f"{short(err.message)}{where(path)}")

    def _condition_shapes(self, locs: FileLocs, doc: CommentedMap) -> None:
        """Exactly one kind per condition node; a comparison has one operator."""

        def visit(node: Any, rule: str | None) -> None:
            if not isinstance(node, CommentedMap):
                return
            kinds = [k for k in node if k in CONDITION_KINDS]
            ops = [
                k for k in node if k not in CONDITION_KINDS and k not in ("field", "ignore_case")
            ]
            if len(kinds) + (1 if ops or "field" in node else 0) != 1:
                self.error(
                    locs.of(node),
                    rule,
                    "a condition must be exactly one of: a comparison, all, any, not, "
                    "activity, sequence",
                    "split into `all: [...]`" if len(kinds) > 1 else None,
                )
                return
            if kinds:
                body = node[kinds[0]]
                if kinds[0] in ("all", "any"):
                    for item in body:
                        visit(item, rule)
                elif kinds[0] == "not":
                    visit(body, rule)
                return
            if "field" not in node:
                self.error(locs.of(node), rule, "comparison without `field`")
            elif len(ops) != 1:
                self.error(
                    locs.of(node),
                    rule,
                    f"a comparison needs exactly one operator, found {len(ops)}",
                    "valid operators: eq, ne, gt, gte, lt, lte, in, not_in, matches, exists, "
                    "missing",
                )
            elif "ignore_case" in node and ops[0] != "matches":
                self.error(
                    locs.key(node, "ignore_case"), rule, "`ignore_case` only applies to `matches`"
                )

        for section, body in doc.items():
            for rule_node, cond in conditions_of(section, body):
                visit(cond, str(rule_node.get("name", "")) or None)


def _range(schema: Any) -> str | None:
    """``valid range: 0 < value ≤ 8760`` from a schema's bounds."""
    if not isinstance(schema, Mapping):
        return None
    low = (
        f"{schema['exclusiveMinimum']:,} < "
        if "exclusiveMinimum" in schema
        else f"{schema['minimum']:,} ≤ "
        if "minimum" in schema
        else ""
    )
    high = f" ≤ {schema['maximum']:,}" if "maximum" in schema else ""
    return f"valid range: {low}value{high}"


def _short_number(message: str) -> str:
    """jsonschema prints ``1000000000000.0 is greater than …``: drop a useless ``.0``."""
    head, sep, tail = message.partition(" ")
    if head.endswith(".0") and head[:-2].lstrip("-").isdigit():
        head = head[:-2]
    return head + sep + tail
