"""Read a rulebook folder: YAML with positions, JSON Schema check, typed model, semantic checks.

Every problem becomes a :class:`~rules.errors.RuleFileError` that names file, line, column and
rule, so RevOps can fix a rule file without reading Python. The steps live in their own modules
(:mod:`rules.shapes`, :mod:`rules.builder`, :mod:`rules.validator`); this one orders them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

from rules.builder import Builder
from rules.errors import RulebookInvalid, RulebookNotFound, RuleFileError
from rules.rulebook import Rulebook
from rules.shapes import rulebook_schema
from rules.suggest import suggest
from rules.validator import semantic_errors

__all__ = [
    "check_rulebook",
    "content_version",
    "load_rulebook",
    "load_rulebook_files",
    "read_rulebook_files",
    "rulebook_schema",
    "suggest",
]


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
    data = {k: v.encode() if isinstance(v, str) else v for k, v in files.items()}
    if not data:
        raise RulebookNotFound("a rulebook needs at least one .yaml file")
    builder = Builder()
    for rel in sorted(data):
        builder.add_file(rel, data[rel])
    if builder.errors:
        raise RulebookInvalid(sorted(builder.errors, key=_position))
    book = builder.build(content_version(data), root, data)
    errors = builder.errors + semantic_errors(book)
    if errors:
        raise RulebookInvalid(sorted(errors, key=_position))
    return book


def _position(e: RuleFileError) -> tuple[str, int, int]:
    return (e.file, e.line, e.column)
