"""Published rulebooks: immutable versions by content hash, exactly one active.

Publishing stores every file of a validated rulebook under its content hash; activating moves
the active pointer (a rollback is activating an older version) and creates the bulk job that
re-evaluates the leads with it. Nothing invalid is stored or activated: the error names the
file, line and rule.

A version is stored with its parsed form (rules.frozen), written in the publishing transaction:
a process that loads a stored version (a swap, a start, a worker) thaws it in milliseconds
instead of parsing its YAML for seconds, and parses only when the form is missing or was frozen
by other code (then it writes the form back for the next process).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

from tortoise.transactions import in_transaction

from api.enums import LifecycleStage
from api.errors import InvalidInput, NotFound
from api.jobs import LeadFilter, cancel_superseded, create_job
from api.models import BulkJob, DomainEvent, RulebookActivation, RulebookVersion
from api.rulebook_signal import notify
from api.settings import get_settings
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

MIN_PREFIX = 6


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


@dataclass(frozen=True, slots=True)
class Published:
    row: RulebookVersion
    created: bool
    """False when the same content was published before (versions are content hashes)."""
    job: BulkJob | None
    """The re-evaluation job, when publishing also activated a new version."""


def validate_files(files: Mapping[str, bytes], *, root: str) -> Rulebook:
    """Load and check a rulebook from file contents, or raise :class:`RulebookRejected`."""
    if not files:
        raise InvalidInput("a rulebook needs at least one .yaml file", field="files")
    try:
        book = load_rulebook_files(dict(files), root=root)
    except RulebookInvalid as exc:
        raise RulebookRejected(exc.errors) from exc
    known = {s.value for s in LifecycleStage}
    unknown = [s for s in book.stages.all if s not in known]
    if unknown:
        loc = book.stages.loc
        error = RuleFileError(
            file=loc.file,
            line=loc.line,
            column=loc.column,
            rule=None,
            message=f"stages {', '.join(unknown)} are not lifecycle stages",
            suggestion=f"use: {', '.join(sorted(known))}",
        )
        raise RulebookRejected([error])
    return book


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


async def publish_rulebook(
    *,
    files: Mapping[str, bytes],
    note: str | None,
    published_by: str,
    activate: bool = True,
    lead_filter: LeadFilter | None = None,
) -> Published:
    """Validate and store a rulebook (once per content); activate it unless told not to."""
    book = validate_files(files, root="<published>")
    texts = {path: data.decode("utf-8") for path, data in files.items()}
    form = frozen_form(book)
    async with in_transaction():
        row = await RulebookVersion.get_or_none(version=book.version)
        created = row is None
        if row is None:
            row = await RulebookVersion.create(
                version=book.version, files=texts, published_by=published_by, notes=note, **form
            )
            await notify("published", row.version)  # servers load it ahead of activation
        elif row.parsed_format != form["parsed_format"]:  # stored before, or by other code
            await RulebookVersion.filter(id=row.id).update(**form)
            row.parsed, row.parsed_format = form["parsed"], form["parsed_format"]
        job = None
        if activate and not row.active:
            job = await _activate(
                row, by=published_by, note=note, lead_filter=lead_filter or LeadFilter()
            )
    return Published(row=row, created=created, job=job)


async def activate_rulebook(
    *,
    version: str,
    activated_by: str,
    note: str | None = None,
    lead_filter: LeadFilter | None = None,
) -> tuple[RulebookVersion, BulkJob | None]:
    """Make a stored version the active one (rollback = an older one) and queue re-evaluation.

    Activating the version that is already active changes nothing and creates no job.
    """
    row = await find_version(version)
    load_version(row)  # an invalid rulebook never becomes active
    async with in_transaction():
        row = await RulebookVersion.get(id=row.id)
        if row.active:
            return row, None
        job = await _activate(
            row, by=activated_by, note=note, lead_filter=lead_filter or LeadFilter()
        )
    return row, job


async def _activate(
    row: RulebookVersion, *, by: str, note: str | None, lead_filter: LeadFilter
) -> BulkJob:
    previous = await active_version()
    # Two statements in one transaction: concurrent activations serialize on the row locks,
    # and the second one's WHERE re-reads the first one's result, so one row stays active.
    await RulebookVersion.filter(active=True).exclude(id=row.id).update(active=False)
    await RulebookVersion.filter(id=row.id).update(active=True)
    row.active = True
    await RulebookActivation.create(
        version=row.version, previous_version=previous, activated_by=by, note=note
    )
    await notify("activated", row.version)  # every server swaps at commit, not at its next poll
    # The outbox row webhooks send as `rulebook.published` (api/webhooks/catalogue.py).
    await DomainEvent.create(
        kind="rulebook_published",
        payload={"version": row.version, "previous": previous, "published_by": by},
    )
    await cancel_superseded(row.version)
    return await create_job(
        kind="activate",
        version=row.version,
        lead_filter=lead_filter,
        created_by=by,
        chunk_size=get_settings().job_chunk_size,
    )


async def find_version(version: str, *, field: str = "version") -> RulebookVersion:
    """A stored version by its full hash or an unambiguous prefix of at least 6 characters."""
    text = version.strip().lower()
    if len(text) < MIN_PREFIX:
        raise InvalidInput(
            f"version {version!r} is too short",
            field=field,
            suggestion=f"give at least {MIN_PREFIX} characters (see leadgate rules versions)",
        )
    rows = await RulebookVersion.filter(version__startswith=text).limit(2)
    if not rows:
        raise NotFound(
            f"no published rulebook version {version!r}",
            field=field,
            suggestion="list them with leadgate rules versions",
        )
    if len(rows) > 1:
        raise InvalidInput(f"version prefix {version!r} is ambiguous", field=field)
    return rows[0]


async def active_version() -> str | None:
    """The active pointer: one indexed read, cheap enough to poll every second."""
    rows = await RulebookVersion.filter(active=True).limit(1).values_list("version", flat=True)
    return str(rows[0]) if rows else None


async def active_row() -> RulebookVersion | None:
    return await RulebookVersion.filter(active=True).first()


async def list_versions(*, limit: int = 100) -> list[RulebookVersion]:
    """Newest first."""
    return await RulebookVersion.all().order_by("-published_at", "-id").limit(limit)


async def activations_of(versions: Sequence[str]) -> list[list[RulebookActivation]]:
    """Each version's activations, oldest first (one query for a page of versions)."""
    rows = await RulebookActivation.filter(version__in=versions).order_by("id")
    found: dict[str, list[RulebookActivation]] = {v: [] for v in versions}
    for row in rows:
        found[row.version].append(row)
    return [found[v] for v in versions]


def write_files(row: RulebookVersion, directory: Path) -> None:
    """Write the stored files of a version into ``directory`` (created; must hold no YAML)."""
    if directory.exists() and any(directory.rglob("*.y*ml")):
        raise InvalidInput(
            f"{directory} already holds rule files",
            field="dir",
            suggestion="export into an empty or new folder",
        )
    for rel, text in row.files.items():
        target = directory / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")


async def bootstrap(*, rules_dir: Path) -> tuple[RulebookVersion, bool]:
    """The version a process starts with: the active one; on an empty database, the files of
    ``rules_dir`` published and activated once (no re-evaluation job: nothing was scored yet).

    Returns the row and whether it was bootstrapped from ``rules_dir``.
    """
    row = await active_row()
    if row is not None:
        return row, False
    files = await asyncio.to_thread(read_dir, rules_dir)
    book = validate_files(files, root=str(rules_dir))
    texts = {path: data.decode("utf-8") for path, data in files.items()}
    form = frozen_form(book)
    async with in_transaction():
        if await RulebookVersion.filter(active=True).exists():  # another process won
            row = await RulebookVersion.get(active=True)
            return row, False
        row = await RulebookVersion.get_or_none(version=book.version)
        if row is None:
            row = await RulebookVersion.create(
                version=book.version,
                files=texts,
                published_by="startup",
                notes=f"bootstrap from {rules_dir}",
                **form,
            )
        await RulebookVersion.filter(id=row.id).update(active=True)
        row.active = True
        await RulebookActivation.create(
            version=row.version, activated_by="startup", note=f"bootstrap from {rules_dir}"
        )
    return row, True
