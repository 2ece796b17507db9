"""Published rulebooks: immutable versions by content hash, exactly one active.

Publishing stores every file of a validated rulebook under its content hash, with its parsed
form (api.rulebook_store); activating moves the active pointer (a rollback is activating an
older version) and creates the bulk job that re-evaluates the leads with it. Nothing invalid
is stored or activated: the error names the file, line and rule.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tortoise.transactions import in_transaction

from api.errors import InvalidInput, NotFound
from api.jobs import cancel_superseded, create_job
from api.lead_filter import LeadFilter
from api.models import BulkJob, DomainEvent, RulebookActivation, RulebookVersion
from api.rulebook_signal import notify
from api.rulebook_store import checked, load_stored, read_dir
from api.settings import get_settings

log = logging.getLogger(__name__)

MIN_PREFIX = 6


@dataclass(frozen=True, slots=True)
class Published:
    row: RulebookVersion
    created: bool
    """False when the same content was published before (versions are content hashes)."""
    job: BulkJob | None
    """The re-evaluation job, when publishing also activated a new version."""


async def publish_rulebook(
    *,
    files: Mapping[str, bytes],
    note: str | None,
    published_by: str,
    activate: bool = True,
    lead_filter: LeadFilter | None = None,
) -> Published:
    """Validate and store a rulebook (once per content); activate it unless told not to."""
    book, form = await checked(files, root="<published>")
    texts = {path: data.decode("utf-8") for path, data in files.items()}
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
    await load_stored(row)  # an invalid rulebook never becomes active
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
    book, form = await checked(files, root=str(rules_dir))
    texts = {path: data.decode("utf-8") for path, data in files.items()}
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
