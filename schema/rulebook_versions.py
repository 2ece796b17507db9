"""Rulebook versions and bulk jobs in GraphQL: publish, activate (roll back), follow progress."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Self, cast

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from api import jobs as job_service
from api import rulebook_versions as versions
from api.enums import JobStatus
from api.errors import InvalidInput, LeadgateError
from api.models import BulkJob as BulkJobRow
from api.models import RulebookActivation as RulebookActivationRow
from api.models import RulebookVersion as RulebookVersionRow
from api.rulebook_store import RulebookRejected
from schema.context import Info
from schema.errors import UserError, user_error
from schema.ids import node_id
from schema.loaders import by_id
from schema.pagination import Connection, Edge, id_connection, memory_connection

First = Annotated[int | None, strawberry.argument(description="Page size, ≤100")]
After = Annotated[str | None, strawberry.argument(description="endCursor")]


@strawberry.type(description="One file of a rulebook version.")
class RuleFile:
    path: str = strawberry.field(description="Path relative to the rulebook folder")
    content: str = strawberry.field(description="The YAML text, exactly as published")


@strawberry.type(description="One time a version became the active one.")
class RulebookActivation:
    activated_at: datetime = strawberry.field(description="When it became active")
    activated_by: str = strawberry.field(description="Who activated it (publish, rollback)")
    previous_version: str | None = strawberry.field(
        description="The version active before (null: the first one of this database)"
    )
    note: str | None = strawberry.field(description="Why: the publish note or a rollback's")

    @classmethod
    def from_row(cls, row: RulebookActivationRow) -> Self:
        return cls(
            activated_at=row.activated_at,
            activated_by=row.activated_by,
            previous_version=row.previous_version,
            note=row.note,
        )


@strawberry.type(description="A published rulebook: immutable files under their content hash.")
class RulebookVersion(relay.Node):
    id: relay.NodeID[int]
    version: str = strawberry.field(description="Content hash (sha256) of the files")
    active: bool = strawberry.field(description="Whether evaluations use it now")
    published_by: str | None = strawberry.field(description="Who published it")
    published_at: datetime = strawberry.field(description="When it was published")
    note: str | None = strawberry.field(description="Why it was published")
    file_texts: strawberry.Private[dict[str, str]]

    @strawberry.field(description="Every file, sorted by path (what `rules export` writes)")
    def files(self) -> list[RuleFile]:
        return [RuleFile(path=p, content=self.file_texts[p]) for p in sorted(self.file_texts)]

    @strawberry.field(description="Each time it became active, oldest first: who, why, from")
    async def activations(
        self, info: Info, first: First = None, after: After = None
    ) -> Connection[RulebookActivation]:
        # One query for the page of versions (a DataLoader): a version has a few activations.
        rows = await info.context.loaders.rulebook_activations.load(self.version)
        return memory_connection(
            "rulebook_activation", rows, RulebookActivation.from_row, first=first, after=after
        )

    @classmethod
    def from_row(cls, row: RulebookVersionRow) -> Self:
        return cls(
            id=row.id,
            version=row.version,
            active=row.active,
            published_by=row.published_by,
            published_at=row.published_at,
            note=row.notes,
            file_texts=row.files,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: strawberry.Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        rows = await by_id(RulebookVersionRow)([int(i) for i in node_ids])
        return [cls.from_row(r) if r else None for r in rows]


@strawberry.type(description="A re-evaluation of many leads with one rulebook version.")
class BulkJob(relay.Node):
    id: relay.NodeID[int]
    kind: str = strawberry.field(description="activate (publish, rollback) or evaluate")
    rulebook_version: str = strawberry.field(description="The version it evaluates with")
    filter: JSON = strawberry.field(description="Which leads: stages, sources, decaying")
    status: JobStatus = strawberry.field(description="pending, running, done, failed, cancelled")
    total: int = strawberry.field(description="Leads matching the filter when it was created")
    processed: int = strawberry.field(description="Leads whose batch has committed")
    progress: float = strawberry.field(description="0 to 1")
    evaluated: int = strawberry.field(description="Evaluations applied")
    moved: int = strawberry.field(description="Stage changes applied")
    handoffs: int = strawberry.field(description="Handoffs created")
    skipped: int = strawberry.field(description="Leads that changed meanwhile (own trigger)")
    failed: int = strawberry.field(description="Leads the engine failed on")
    attempted: int = strawberry.field(description="Leads sent to the engine, retries included")
    chunks: int = strawberry.field(description="Chunks (the unit a runner or worker claims)")
    chunks_done: int = strawberry.field(description="Chunks finished, by whichever runner")
    runners: list[str] = strawberry.field(
        description="Who claimed its chunks: host:pid of a CLI, server or `leadgate worker`"
    )
    created_by: str = strawberry.field(description="Who started it")
    error: str | None = strawberry.field(description="Why it stopped, if it did")
    created_at: datetime = strawberry.field(description="Created at")
    started_at: datetime | None = strawberry.field(description="First chunk claimed at")
    finished_at: datetime | None = strawberry.field(description="Finished at")

    @classmethod
    def build(cls, row: BulkJobRow, p: job_service.Progress) -> Self:
        return cls(
            id=row.id,
            kind=row.kind,
            rulebook_version=row.rulebook_version,
            filter=cast(JSON, row.lead_filter),
            status=row.status,
            total=row.total,
            processed=p.processed,
            progress=p.fraction if row.total else 1.0,
            evaluated=p.evaluated,
            moved=p.moved,
            handoffs=p.handoffs,
            skipped=p.skipped,
            failed=p.failed,
            attempted=p.attempted,
            chunks=p.chunks,
            chunks_done=p.chunks_done,
            runners=p.runners,
            created_by=row.created_by,
            error=row.error,
            created_at=row.created_at,
            started_at=row.started_at,
            finished_at=row.finished_at,
        )

    @classmethod
    async def many(cls, rows: list[BulkJobRow]) -> list[Self]:
        """Jobs with their progress: one query for the chunks of all of them."""
        progress = await job_service.progress_of([r.id for r in rows])
        return [cls.build(r, progress[r.id]) for r in rows]

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: strawberry.Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        rows = await by_id(BulkJobRow)([int(i) for i in node_ids])
        built = {j.id: j for j in await cls.many([r for r in rows if r is not None])}
        return [built.get(r.id) if r else None for r in rows]


@strawberry.input(description="One rule file to publish.")
class RuleFileInput:
    path: str = strawberry.field(description="Relative path ending in .yaml or .yml")
    content: str = strawberry.field(description="YAML text")


@strawberry.input(description="A rulebook to validate, store and (by default) activate.")
class PublishRulebookInput:
    files: list[RuleFileInput] = strawberry.field(description="Every file of the rulebook")
    note: str = strawberry.field(description="Why this change (kept with the version)")
    activate: bool = strawberry.field(
        default=True, description="Make it active and re-evaluate the leads (a bulk job)"
    )


@strawberry.type(description="The stored version and the re-evaluation it started.")
class PublishRulebookPayload:
    rulebook_version: RulebookVersion | None = strawberry.field(description="The version")
    created: bool = strawberry.field(description="False when this content was published before")
    job: BulkJob | None = strawberry.field(description="Re-evaluation job, when activated")
    user_errors: list[UserError] = strawberry.field(
        description="Empty on success; one per located rule-file error"
    )


@strawberry.input(description="Activate a published version (an older one: a rollback).")
class ActivateRulebookInput:
    version: str = strawberry.field(description="Version hash or an unambiguous prefix (≥ 6)")


@strawberry.type(description="The active version and the re-evaluation it started.")
class ActivateRulebookPayload:
    rulebook_version: RulebookVersion | None = strawberry.field(description="Now active")
    job: BulkJob | None = strawberry.field(description="Re-evaluation job (none if unchanged)")
    user_errors: list[UserError] = strawberry.field(description="Empty on success")


def errors_of(exc: LeadgateError) -> list[UserError]:
    """A rejected rulebook gives one error per problem, each naming file, line and rule."""
    if isinstance(exc, RulebookRejected):
        return [
            UserError(
                code=exc.code,
                message=str(e),
                field=["input", "files", e.file],
                suggestion=e.suggestion,
            )
            for e in exc.errors
        ]
    return [user_error(exc)]


def files_of(items: list[RuleFileInput]) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for i, item in enumerate(items):
        path = item.path.strip()
        parts = path.split("/")
        if not path.endswith((".yaml", ".yml")) or path.startswith("/") or ".." in parts:
            raise InvalidInput(
                f"bad rule file path {item.path!r}",
                field=f"files.{i}.path",
                suggestion="a relative path inside the rulebook, ending in .yaml or .yml",
            )
        if path in files:
            raise InvalidInput(f"file {path} given twice", field=f"files.{i}.path")
        files[path] = item.content.encode("utf-8")
    return files


def _who(info: Info) -> str:
    principal = info.context.principal
    return f"{principal.role}:{principal.name}" if principal else "unknown"


@strawberry.type
class RulebookVersionQueries:
    @strawberry.field(description="Published rulebook versions, newest first")
    async def rulebook_versions(
        self, first: First = None, after: After = None
    ) -> Connection[RulebookVersion]:
        return await id_connection(
            "rulebook_version",
            RulebookVersionRow.all(),
            RulebookVersion.from_row,
            first=first,
            after=after,
        )

    @strawberry.field(description="One bulk re-evaluation job, with its progress")
    async def bulk_job(self, id: relay.GlobalID) -> BulkJob | None:
        job_id = node_id(id, "BulkJob", "id")
        rows = await BulkJobRow.filter(id=job_id)
        built = await BulkJob.many(rows)
        return built[0] if built else None

    @strawberry.field(description="Bulk jobs with their progress, newest first")
    async def bulk_jobs(self, first: First = None, after: After = None) -> Connection[BulkJob]:
        page = await id_connection("bulk_job", BulkJobRow.all(), _row, first=first, after=after)
        built = await BulkJob.many([edge.node for edge in page.edges])  # one progress query
        return Connection(
            edges=[Edge(cursor=e.cursor, node=j) for e, j in zip(page.edges, built, strict=True)],
            page_info=page.page_info,
            counter=page.counter,
        )


def _row(row: BulkJobRow) -> BulkJobRow:
    return row


@strawberry.type
class RulebookVersionMutations:
    @strawberry.mutation(description="Validate and store a rulebook; activate it by default")
    async def publish_rulebook(
        self, info: Info, input: PublishRulebookInput
    ) -> PublishRulebookPayload:
        try:
            done = await versions.publish_rulebook(
                files=files_of(input.files),
                note=input.note,
                published_by=_who(info),
                activate=input.activate,
            )
        except LeadgateError as exc:
            return PublishRulebookPayload(
                rulebook_version=None, created=False, job=None, user_errors=errors_of(exc)
            )
        job = (await BulkJob.many([done.job]))[0] if done.job else None
        return PublishRulebookPayload(
            rulebook_version=RulebookVersion.from_row(done.row),
            created=done.created,
            job=job,
            user_errors=[],
        )

    @strawberry.mutation(description="Make a published version active (rollback: an older one)")
    async def activate_rulebook(
        self, info: Info, input: ActivateRulebookInput
    ) -> ActivateRulebookPayload:
        try:
            row, job_row = await versions.activate_rulebook(
                version=input.version, activated_by=_who(info)
            )
        except LeadgateError as exc:
            return ActivateRulebookPayload(
                rulebook_version=None, job=None, user_errors=errors_of(exc)
            )
        job = (await BulkJob.many([job_row]))[0] if job_row else None
        return ActivateRulebookPayload(
            rulebook_version=RulebookVersion.from_row(row), job=job, user_errors=[]
        )
