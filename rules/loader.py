"""Read a rulebook folder: YAML with positions, JSON Schema check, typed model, semantic checks.

Every problem becomes a :class:`~rules.errors.RuleFileError` that names file, line, column and
rule, so RevOps can fix a rule file without reading Python. The steps live in their own modules
(:mod:`rules.shapes`, :mod:`rules.builder`, :mod:`rules.validator`); this one orders them.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from pathlib import Path

from rules.builder import Builder
from rules.errors import RulebookInvalid, RulebookNotFound, RuleFileError
from rules.rulebook import Rulebook
from rules.shapes import rulebook_schema
from rules.suggest import suggest
from rules.validate_logic import warnings
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
    too_big = _size_errors(data)
    if too_big:
        raise RulebookInvalid(too_big)
    builder = Builder()
    for rel in sorted(data):
        builder.add_file(rel, data[rel])
    if builder.errors:
        raise RulebookInvalid(sorted(builder.errors, key=_position))
    first = RuleFileError(min(data), 1, 1, None, "")
    if not builder.maps and not any(builder.lists.values()):
        raise RulebookInvalid(
            [_at(first, "the rulebook is empty: no file defines a section", _START)]
        )
    book = builder.build(content_version(data), root, data)
    if "stages" not in builder.maps and book.transitions:
        stages = _at(first, "`stages` is missing: no file defines the lifecycle stages", _STAGES)
        raise RulebookInvalid(sorted([*builder.errors, stages], key=_position))
    errors = builder.errors + semantic_errors(book)
    if errors:
        raise RulebookInvalid(sorted(errors, key=_position))
    return dataclasses.replace(book, warnings=tuple(sorted(warnings(book), key=_position)))


MAX_FILE_BYTES = 256 * 1024
"""Largest rule file: 256 KiB (about 2,500 one-line rules). Checking is linear in size but the
position-keeping YAML parser costs ~30 µs per byte: ~3 s per 100 KB on a 2-core machine."""
MAX_RULEBOOK_BYTES = 1024 * 1024
"""Largest rulebook, all files together: 1 MiB, so ``rules check`` ends within about 30 s."""
_START = "copy the demo rulebook (rules/demo) and edit it"
_STAGES = "add `stages: {order: [new, …], initial: new, handoff: mql}` to one file"


def _size_errors(data: Mapping[str, bytes]) -> list[RuleFileError]:
    """Files over the documented size limits, checked before any parsing."""
    errors = [
        RuleFileError(
            rel,
            1,
            1,
            None,
            f"file is {len(blob):,} bytes; a rule file may have at most {MAX_FILE_BYTES:,}",
            "split it into several files of the same folder",
        )
        for rel, blob in sorted(data.items())
        if len(blob) > MAX_FILE_BYTES
    ]
    total = sum(len(blob) for blob in data.values())
    if not errors and total > MAX_RULEBOOK_BYTES:
        errors.append(
            RuleFileError(
                min(data),
                1,
                1,
                None,
                f"the rulebook is {total:,} bytes; at most {MAX_RULEBOOK_BYTES:,} are allowed",
            )
        )
    return errors


def _at(where: RuleFileError, message: str, hint: str) -> RuleFileError:
    return RuleFileError(where.file, where.line, where.column, None, message, hint)


def _position(e: RuleFileError) -> tuple[str, int, int]:
    return (e.file, e.line, e.column)
