"""Rulebooks from files and from stored versions: validation, and the parsed form.

A version is stored with its parsed form (rules.frozen), written in the publishing transaction:
a process that loads a stored version (a swap, a start, a worker, a "why not" replay) thaws it
in milliseconds instead of parsing its YAML for seconds, and parses only when the form is
missing or was frozen by other code (then it writes the form back for the next process).

Parsing and freezing take seconds on a large rulebook: the async entry points run them off the
event loop, so requests in flight are not held up by a publish.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Mapping
from concurrent.futures import Executor
from pathlib import Path
from typing import TypedDict

from api.enums import LifecycleStage
from api.errors import InvalidInput, NotFound
from api.models import RulebookVersion
from rules import (
    Rulebook,
    RulebookInvalid,
    RulebookNotFound,
    RuleFileError,
    load_rulebook_files,
    read_rulebook_files,
)
from rules.frozen import NotThawed, format_fingerprint, freeze, thaw

log = logging.getLogger(__name__)


class RulebookRejected(InvalidInput):
    """The rulebook does not validate; ``errors`` locate every problem."""

    code = "invalid_rulebook"

    def __init__(self, errors: list[RuleFileError], *, field: str = "files") -> None:
        first = str(errors[0]) if errors else "no details"
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(
            f"invalid rulebook: {first}{more}",
            field=field,
            suggestion="fix the files (leadgate rules check shows every error), then publish",
        )
        self.errors = errors


def validate_files(files: Mapping[str, bytes], *, root: str) -> Rulebook:
    """Load and check a rulebook from file contents, or raise :class:`RulebookRejected`."""
    if not files:
        raise InvalidInput("a rulebook needs at least one .yaml file", field="files")
    try:
        book = load_rulebook_files(dict(files), root=root)
        check_stages(book)
    except RulebookInvalid as exc:
        raise RulebookRejected(exc.errors) from exc
    return book


def check_stages(rulebook: Rulebook) -> None:
    """The database knows the lifecycle stages: a rulebook may not invent others."""
    known = {s.value for s in LifecycleStage}
    unknown = [s for s in rulebook.stages.all if s not in known]
    if unknown:
        loc = rulebook.stages.loc
        raise RulebookInvalid(
            [
                RuleFileError(
                    file=loc.file,
                    line=loc.line,
                    column=loc.column,
                    rule=None,
                    message=f"stages {', '.join(unknown)} are not lifecycle stages",
                    suggestion=f"use: {', '.join(sorted(known))}",
                )
            ]
        )


def read_dir(path: Path) -> dict[str, bytes]:
    try:
        return read_rulebook_files(path)
    except RulebookNotFound as exc:
        raise NotFound(str(exc), field="dir") from exc


def stored_files(row: RulebookVersion) -> dict[str, bytes]:
    return {path: text.encode("utf-8") for path, text in row.files.items()}


def version_root(version: str) -> str:
    """The ``root`` of a stored version's rulebook (there is no folder)."""
    return f"<version {version[:12]}>"


def load_version(row: RulebookVersion) -> Rulebook:
    """The stored version as a rulebook: its parsed form thawed, or its files parsed and
    validated again when there is none this code can read (see :func:`parse_version`)."""
    book = thawed(row)
    return book if book is not None else parse_version(row)


def parse_version(row: RulebookVersion) -> Rulebook:
    """The stored version's files parsed and validated again (validators may have grown)."""
    return validate_files(stored_files(row), root=version_root(row.version))


def thawed(row: RulebookVersion) -> Rulebook | None:
    """The stored parsed form, when there is one this code can read (else None, logged)."""
    if row.parsed is None:
        return None
    try:
        return thaw(bytes(row.parsed), fingerprint=row.parsed_format, version=row.version)
    except NotThawed as exc:
        log.warning("stored form of rulebook %s not used (%s): parsing it", row.version[:12], exc)
        return None


class ParsedForm(TypedDict):
    """The columns of :class:`RulebookVersion` that store the parsed form."""

    parsed: bytes | None
    parsed_format: str | None


def frozen_form(book: Rulebook) -> ParsedForm:
    """``book``'s parsed form, as loading the stored version sees it (its ``root`` too)."""
    blob = freeze(dataclasses.replace(book, root=version_root(book.version)))
    return {"parsed": blob, "parsed_format": format_fingerprint() if blob is not None else None}


async def load_stored(row: RulebookVersion, *, executor: Executor | None = None) -> Rulebook:
    """:func:`load_version` off the event loop (on ``executor``); a version that had to be
    parsed gets its parsed form written back, so the next process thaws it."""
    loop = asyncio.get_running_loop()
    book = await loop.run_in_executor(executor, thawed, row)
    if book is not None:
        return book
    book = await loop.run_in_executor(executor, parse_version, row)
    try:
        form = await loop.run_in_executor(executor, frozen_form, book)
        await RulebookVersion.filter(version=row.version).update(**form)
    except Exception:  # the next load parses again; nothing is wrong with the version
        log.exception("could not store the parsed form of rulebook %s", row.version[:12])
    return book


async def checked(files: Mapping[str, bytes], *, root: str) -> tuple[Rulebook, ParsedForm]:
    """:func:`validate_files` and :func:`frozen_form`, off the event loop."""
    return await asyncio.to_thread(_checked, files, root)


def _checked(files: Mapping[str, bytes], root: str) -> tuple[Rulebook, ParsedForm]:
    book = validate_files(files, root=root)
    return book, frozen_form(book)
