"""Read a rulebook folder: YAML with positions, JSON Schema check, typed model, semantic checks.

Every problem becomes a :class:`~rules.errors.RuleFileError` that names file, line, column and
rule, so RevOps can fix a rule file without reading Python.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from rules import conditions as c
from rules.errors import RulebookInvalid, RulebookNotFound, RuleFileError
from rules.rulebook import (
    Example,
    FeedbackRule,
    Route,
    Routing,
    Rulebook,
    ScoreDef,
    Signal,
    Sla,
    SlaRule,
    Stages,
    Transition,
)

LIST_SECTIONS = ("signals", "qualification", "disqualification", "feedback", "examples")
CONDITION_KINDS = ("all", "any", "not", "activity", "sequence")


@cache
def rulebook_schema() -> dict[str, Any]:
    """The JSON Schema shipped in the package (also usable by editors)."""
    text = resources.files("rules").joinpath("rulebook.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def content_version(files: Mapping[str, bytes]) -> str:
    """sha256 over sorted (relative path, bytes): the rulebook version."""
    digest = hashlib.sha256()
    for rel in sorted(files):
        data = files[rel]
        digest.update(rel.encode() + b"\0" + str(len(data)).encode() + b"\0" + data)
    return digest.hexdigest()


def read_rulebook_files(path: str | Path) -> dict[str, bytes]:
    """The YAML files of a rulebook folder, keyed by POSIX path relative to it."""
    root = Path(path)
    if not root.is_dir():
        raise RulebookNotFound(f"rulebook folder not found: {root}")
    files = {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.suffix in (".yaml", ".yml")
    }
    if not files:
        raise RulebookNotFound(f"no .yaml files in {root}")
    return files


def load_rulebook(path: str | Path) -> Rulebook:
    """Load and validate a rulebook folder; raise :class:`RulebookInvalid` on any error."""
    return load_rulebook_files(read_rulebook_files(path), root=str(path))


def check_rulebook(path: str | Path) -> list[RuleFileError]:
    """All located errors of a rulebook folder (empty when valid)."""
    try:
        load_rulebook(path)
    except RulebookInvalid as exc:
        return exc.errors
    return []


def load_rulebook_files(files: Mapping[str, bytes | str], *, root: str = "<memory>") -> Rulebook:
    """Load a rulebook from file contents (e.g. a published version stored by the service)."""
    from rules.validator import semantic_errors

    data = {k: v.encode() if isinstance(v, str) else v for k, v in files.items()}
    if not data:
        raise RulebookNotFound("a rulebook needs at least one .yaml file")
    builder = _Builder()
    for rel in sorted(data):
        builder.add_file(rel, data[rel])
    if builder.errors:
        raise RulebookInvalid(sorted(builder.errors, key=_position))
    book = builder.build(content_version(data), root, data)
    errors = builder.errors + semantic_errors(book)
    if errors:
        raise RulebookInvalid(sorted(errors, key=_position))
    return book


def suggest(word: str, choices: list[str] | tuple[str, ...], what: str = "") -> str | None:
    """``did you mean `x`?`` for the closest choice, or None."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    if close:
        return f"did you mean `{close[0]}`?"
    if what and choices and len(choices) <= 12:
        return f"valid {what}: {', '.join(choices)}"
    return None


class _FileLocs:
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


class _Builder:
    """Accumulates sections across files, then builds the typed rulebook."""

    def __init__(self) -> None:
        self.errors: list[RuleFileError] = []
        self.lists: dict[str, list[tuple[_FileLocs, Any]]] = {k: [] for k in LIST_SECTIONS}
        self.maps: dict[str, list[tuple[_FileLocs, Any]]] = {}

    def error(self, loc: c.Loc, rule: str | None, msg: str, hint: str | None = None) -> None:
        self.errors.append(RuleFileError(loc.file, loc.line, loc.column, rule, msg, hint))

    def add_file(self, rel: str, data: bytes) -> None:
        locs = _FileLocs(rel)
        try:
            doc = YAML(typ="rt").load(data)
        except MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
            self.error(c.Loc(rel, line, col), None, f"YAML error: {exc.problem or exc}")
            return
        except Exception as exc:  # ruamel raises several unrelated types for bad bytes
            self.error(c.Loc(rel, 1, 1), None, f"cannot read YAML: {exc}")
            return
        if doc is None:
            return
        if not isinstance(doc, CommentedMap):
            self.error(locs.of(doc), None, "a rule file must be a mapping of sections")
            return
        before = len(self.errors)
        self._schema_check(locs, doc)
        if len(self.errors) > before:
            return
        for section, body in doc.items():
            if section in LIST_SECTIONS:
                self.lists[section].extend((locs, item) for item in body)
            else:
                self.maps.setdefault(str(section), []).append((locs, body))

    def _schema_check(self, locs: _FileLocs, doc: CommentedMap) -> None:
        validator = jsonschema.Draft202012Validator(rulebook_schema())
        for err in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.path))):
            self._schema_error(locs, doc, err)
        self._condition_shapes(locs, doc)

    def _schema_error(self, locs: _FileLocs, doc: Any, err: jsonschema.ValidationError) -> None:
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
                    where = _where(path)
                    what = "operator or key" if "field" in node else "key"
                    self.error(
                        locs.key(node, key),
                        rule,
                        f"unknown {what} `{key}`{where}",
                        suggest(str(key), allowed, "keys"),
                    )
            return
        if err.validator == "required":
            missing = err.message.split("'")[1] if "'" in err.message else err.message
            self.error(locs.of(node), rule, f"missing required key `{missing}`{_where(path)}")
            return
        if err.validator == "enum":
            choices = [str(x) for x in err.validator_value]  # type: ignore[union-attr]
            self.error(
                loc,
                rule,
                f"invalid value {node!r}{_where(path)}",
                suggest(str(node), choices, "values"),
            )
            return
        if err.validator == "pattern":
            self.error(
                loc,
                rule,
                f"invalid name {node!r}{_where(path)}",
                "use lower_snake_case: a letter then letters, digits or _",
            )
            return
        self.error(loc, rule, f"{_short(err.message)}{_where(path)}")

    def _condition_shapes(self, locs: _FileLocs, doc: CommentedMap) -> None:
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
            for rule_node, cond in _conditions_of(section, body):
                visit(cond, str(rule_node.get("name", "")) or None)

    def build(self, version: str, root: str, sources: dict[str, bytes]) -> Rulebook:
        scores = self._scores()
        stages = self._stages()
        return Rulebook(
            version=version,
            root=root,
            scores=scores,
            signals=tuple(self._signal(lc, n) for lc, n in self.lists["signals"]),
            stages=stages,
            transitions=tuple(
                [self._transition(lc, n, "qualification") for lc, n in self.lists["qualification"]]
                + [
                    self._transition(lc, n, "disqualification")
                    for lc, n in self.lists["disqualification"]
                ]
            ),
            routing=self._routing(),
            sla=self._sla(),
            feedback=tuple(self._feedback(lc, n) for lc, n in self.lists["feedback"]),
            reasons=self._reasons(),
            examples=tuple(
                Example(str(n["name"]), _plain(n["input"]), _plain(n["expect"]), lc.of(n))
                for lc, n in self.lists["examples"]
            ),
            example_defaults=_plain(self._merged_map("example_defaults")),
            reason_labels={
                kind: {str(r["code"]): str(r.get("label", r["code"])) for r in entries}
                for kind, entries in self._merged_map("reasons").items()
            },
            sources=dict(sources),
        )

    def _merged_map(self, section: str) -> dict[str, Any]:
        """Merge a mapping section across files: lists concatenate, other keys must be unique."""
        merged: dict[str, Any] = {}
        for locs, body in self.maps.get(section, []):
            for key, value in body.items():
                if key in merged and isinstance(value, list) and isinstance(merged[key], list):
                    merged[key] = merged[key] + list(value)
                elif key in merged:
                    self.error(locs.key(body, key), None, f"`{section}.{key}` is defined twice")
                else:
                    merged[key] = value
        return merged

    def _keyed(self, section: str) -> list[tuple[_FileLocs, Any, str, Any]]:
        out: list[tuple[_FileLocs, Any, str, Any]] = []
        for locs, body in self.maps.get(section, []):
            out.extend((locs, body, str(k), v) for k, v in body.items())
        return out

    def _scores(self) -> dict[str, ScoreDef]:
        scores: dict[str, ScoreDef] = {}
        for locs, body, name, s in self._keyed("scores"):
            if name in scores:
                self.error(locs.key(body, name), name, f"score `{name}` is defined twice")
                continue
            cap = float(s["cap"])
            scores[name] = ScoreDef(
                name=name,
                cap=cap,
                floor=float(s.get("floor", 0)),
                half_life_days=float(s["half_life_days"]) if "half_life_days" in s else None,
                adjustment_bound=float(s.get("adjustment_bound", cap)),
                loc=locs.key(body, name),
            )
        return scores

    def _stages(self) -> Stages:
        found = self.maps.get("stages", [])
        if not found:
            return Stages(("new",), (), "new", (), None, c.Loc("<none>", 1, 1))
        for locs, body in found[1:]:
            self.error(locs.of(body), None, "`stages` is defined in more than one file")
        locs, s = found[0]
        return Stages(
            order=tuple(map(str, s["order"])),
            side=tuple(map(str, s.get("side", []))),
            initial=str(s["initial"]),
            manual=tuple(map(str, s.get("manual", []))),
            handoff=str(s["handoff"]) if "handoff" in s else None,
            loc=locs.of(s),
        )

    def _when(self, locs: _FileLocs, node: Any) -> c.Condition:
        if "when" not in node:
            return c.AllOf((), locs.of(node))
        return c.parse(node["when"], locs.of)

    def _signal(self, locs: _FileLocs, n: Any) -> Signal:
        return Signal(
            name=str(n["name"]),
            score=str(n["score"]),
            points=float(n["points"]),
            when=self._when(locs, n),
            per_activity=bool(n.get("per_activity", False)),
            max_count=int(n.get("max_count", 1 if not n.get("per_activity") else 10)),
            description=str(n.get("description", "")),
            loc=locs.of(n),
        )

    def _transition(self, locs: _FileLocs, n: Any, section: str) -> Transition:
        to = str(n["to"]) if section == "qualification" else "disqualified"
        return Transition(
            name=str(n["name"]),
            section=section,
            to=to,
            from_stages=tuple(map(str, n.get("from", []))),
            when=self._when(locs, n),
            reason=str(n["reason"]) if "reason" in n else None,
            loc=locs.of(n),
        )

    def _routing(self) -> Routing:
        merged = self._merged_map("routing")
        routes = []
        for locs, body in self.maps.get("routing", []):
            for r in body.get("routes", []):
                pool = r.get("pool", {})
                routes.append(
                    Route(
                        name=str(r["name"]),
                        territory=str(pool["territory"]) if "territory" in pool else None,
                        segment=str(pool["segment"]) if "segment" in pool else None,
                        when=self._when(locs, r),
                        loc=locs.of(r),
                    )
                )
        return Routing(
            territories=tuple(map(str, merged.get("territories", []))),
            segments=tuple(map(str, merged.get("segments", []))),
            routes=tuple(routes),
        )

    def _sla(self) -> Sla:
        priorities: dict[str, float] = {}
        default = None
        rules = []
        for locs, body in self.maps.get("sla", []):
            for key, hours in body.get("priorities", {}).items():
                if key in priorities:
                    self.error(locs.key(body["priorities"], key), None, f"priority `{key}` twice")
                priorities[str(key)] = float(hours)
            if "default" in body:
                if default is not None:
                    self.error(locs.key(body, "default"), None, "`sla.default` is defined twice")
                default = str(body["default"])
            for r in body.get("rules", []):
                rules.append(
                    SlaRule(str(r["name"]), str(r["priority"]), self._when(locs, r), locs.of(r))
                )
        return Sla(priorities, default, tuple(rules))

    def _feedback(self, locs: _FileLocs, n: Any) -> FeedbackRule:
        group = str(n["group_by"])
        adjust = n["adjust"]
        return FeedbackRule(
            name=str(n["name"]),
            type=str(n["type"]),
            reason=str(n["reason"]) if "reason" in n else None,
            group_by=group,
            only=str(n[group]) if group in n else None,
            at_least=int(n["at_least"]),
            within_days=float(n["within_days"]),
            score=str(adjust["score"]),
            delta=float(adjust["delta"]),
            duration_days=float(adjust["duration_days"]),
            loc=locs.of(n),
        )

    def _reasons(self) -> dict[str, tuple[str, ...]]:
        merged = self._merged_map("reasons")
        return {k: tuple(str(r["code"]) for r in v) for k, v in merged.items()}


def _conditions_of(section: Any, body: Any) -> list[tuple[Any, Any]]:
    """(rule node, condition node) pairs of a section."""
    items: list[Any] = []
    if section in ("signals", "qualification", "disqualification"):
        items = list(body)
    elif section == "routing":
        items = list(body.get("routes", []))
    elif section == "sla":
        items = list(body.get("rules", []))
    return [(n, n["when"]) for n in items if isinstance(n, CommentedMap) and "when" in n]


def _position(e: RuleFileError) -> tuple[str, int, int]:
    return (e.file, e.line, e.column)


def _where(path: list[Any]) -> str:
    shown = [str(p) for p in path if not isinstance(p, int)]
    return f" in `{'.'.join(shown)}`" if shown else ""


def _short(message: str) -> str:
    return message if len(message) < 160 else message[:157] + "..."


def _plain(node: Any) -> Any:
    """ruamel containers → plain dicts/lists (examples are fed to pydantic)."""
    if isinstance(node, Mapping):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node
