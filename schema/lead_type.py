"""The Lead type: a lead's fields and its relations (account, owner, evaluations, history,
feedback, activities), resolved from a row, a list page's values or a stored snapshot."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Any, Final, Self, cast

import strawberry
from strawberry import relay

from api.enums import LifecycleStage
from api.models import Activity as ActivityRow
from api.models import Evaluation as EvaluationRow
from api.models import Feedback as FeedbackRow
from api.models import Lead as LeadRow
from api.models import LeadStageChange as LeadStageChangeRow
from schema.accounts import Account
from schema.context import Info
from schema.evaluations import Evaluation
from schema.loaders import by_id
from schema.pagination import Connection, id_connection
from schema.records import Activity, Feedback, LeadStageChange
from schema.reps import SalesRep

Stage = LifecycleStage


@strawberry.type(description="A person who showed interest. Email is the natural key.")
class Lead(relay.Node):
    id: relay.NodeID[int]
    email: str = strawberry.field(description="Normalised (lower-case) email")
    external_id: str | None = strawberry.field(description="The integration's own id")
    first_name: str | None = strawberry.field(description="Given name")
    last_name: str | None = strawberry.field(description="Family name")
    title: str | None = strawberry.field(description="Job title")
    seniority: str | None = strawberry.field(description="e.g. c_level, vp, director, manager")
    department: str | None = strawberry.field(description="e.g. marketing, engineering")
    country: str | None = strawberry.field(description="ISO 3166 alpha-2 country")
    source: str | None = strawberry.field(description="Lead source, e.g. webinar, paid_search")
    stage: Stage = strawberry.field(description="Lifecycle stage")
    fit_score: float = strawberry.field(description="Who they are, per the rulebook")
    engagement_score: float = strawberry.field(description="What they did, with decay")
    version: int = strawberry.field(description="Optimistic-concurrency version")
    created_at: datetime = strawberry.field(description="First seen")
    updated_at: datetime = strawberry.field(description="Last changed")
    erased_at: datetime | None = strawberry.field(
        description="When the person's data was erased (eraseLead); the row stays for metrics"
    )
    account_id: strawberry.Private[int | None]
    owner_id: strawberry.Private[int | None]
    last_evaluation_id: strawberry.Private[int | None] = dataclasses.field(default=None, init=False)
    """The record in force (``lead.last_evaluation_id``), when read from a row."""
    prefetched: strawberry.Private[dict[str, Any]] = dataclasses.field(
        default_factory=dict, init=False
    )
    """Relations a list page read for all its leads at once (schema/lead_page.py)."""

    @classmethod
    def from_row(cls, row: LeadRow) -> Self:
        lead = cls(
            id=row.id,
            email=row.email,
            external_id=row.external_id,
            first_name=row.first_name,
            last_name=row.last_name,
            title=row.title,
            seniority=row.seniority,
            department=row.department,
            country=row.country,
            source=row.source,
            stage=row.stage,
            fit_score=row.fit_score,
            engagement_score=row.engagement_score,
            version=row.version,
            created_at=row.created_at,
            updated_at=row.updated_at,
            erased_at=row.erased_at,
            account_id=row.account_id,  # type: ignore[attr-defined]
            owner_id=row.owner_id,  # type: ignore[attr-defined]
        )
        lead.last_evaluation_id = row.last_evaluation_id
        return lead

    @classmethod
    def from_values(cls, values: dict[str, Any]) -> Self:
        """From a ``values()`` read (list pages: no model instances). A list page reads only the
        columns its selection shows (schema/lead_page.py): the others are None, never resolved."""
        read: dict[str, Any] = {name: values.get(name) for name in _INIT_FIELDS}
        lead = cls(**read)
        lead.last_evaluation_id = values["last_evaluation_id"]
        return lead

    # account, owner and latestEvaluation are sync resolvers: on a list page they return the
    # values the page read up front (no task per lead); elsewhere they return an awaitable,
    # which graphql-core awaits.

    @strawberry.field(description="The company, when the email domain is not a free-mail one")
    def account(self, info: Info) -> Account | None:
        if "account" in self.prefetched or self.account_id is None:
            return cast(Account | None, self.prefetched.get("account"))
        return cast(Account | None, self._account(info, self.account_id))

    async def _account(self, info: Info, account_id: int) -> Account | None:
        row = await info.context.loaders.account.load(account_id)
        return Account.from_row(row) if row else None

    @strawberry.field(description="The sales owner, once handed off")
    def owner(self, info: Info) -> SalesRep | None:
        if "owner" in self.prefetched or self.owner_id is None:
            return cast(SalesRep | None, self.prefetched.get("owner"))
        return cast(SalesRep | None, self._owner(info, self.owner_id))

    async def _owner(self, info: Info, owner_id: int) -> SalesRep | None:
        row = await info.context.loaders.rep.load(owner_id)
        return SalesRep.from_row(row) if row else None

    @strawberry.field(description="Stored evaluations of this lead, newest first")
    async def evaluations(
        self,
        info: Info,
        first: Annotated[int | None, strawberry.argument(description="Page size, ≤100")] = None,
        after: Annotated[str | None, strawberry.argument(description="endCursor")] = None,
    ) -> Connection[Evaluation]:
        focus = info.context.engine.focus
        return await id_connection(
            "lead_evaluation",
            EvaluationRow.filter(lead_id=self.id),
            lambda row: Evaluation.from_row(row, focus),
            first=first,
            after=after,
            batch=(info.context.loaders.lead_evaluations, self.id),
        )

    @strawberry.field(description="Its lifecycle moves (refused ones too), oldest first")
    async def stage_history(
        self,
        info: Info,
        first: Annotated[int | None, strawberry.argument(description="Page size, ≤100")] = None,
        after: Annotated[str | None, strawberry.argument(description="endCursor")] = None,
    ) -> Connection[LeadStageChange]:
        return await id_connection(
            "lead_stage_change",
            LeadStageChangeRow.filter(lead_id=self.id),
            LeadStageChange.from_row,
            first=first,
            after=after,
            newest_first=False,
            batch=(info.context.loaders.lead_stage_changes, self.id),
        )

    @strawberry.field(description="What sales said about them, newest first")
    async def feedback(
        self,
        info: Info,
        first: Annotated[int | None, strawberry.argument(description="Page size, ≤100")] = None,
        after: Annotated[str | None, strawberry.argument(description="endCursor")] = None,
    ) -> Connection[Feedback]:
        query = FeedbackRow.filter(lead_id=self.id)
        pages = info.context.loaders.lead_feedback
        return await id_connection(
            "feedback", query, Feedback.from_row, first=first, after=after, batch=(pages, self.id)
        )

    @strawberry.field(description="What they did, newest first")
    async def activities(
        self,
        info: Info,
        first: Annotated[int | None, strawberry.argument(description="Page size, ≤100")] = None,
        after: Annotated[str | None, strawberry.argument(description="endCursor")] = None,
    ) -> Connection[Activity]:
        query = ActivityRow.filter(lead_id=self.id)
        pages = info.context.loaders.lead_activities
        return await id_connection(
            "activity", query, Activity.from_row, first=first, after=after, batch=(pages, self.id)
        )

    @strawberry.field(description="The most recent evaluation, if any")
    def latest_evaluation(self, info: Info) -> Evaluation | None:
        if "latestEvaluation" in self.prefetched:
            return cast(Evaluation | None, self.prefetched["latestEvaluation"])
        return cast(Evaluation | None, self._latest_evaluation(info))

    async def _latest_evaluation(self, info: Info) -> Evaluation | None:
        loaders = info.context.loaders
        if self.last_evaluation_id is not None:  # read with the lead: one look-up
            row = await loaders.evaluation.load(self.last_evaluation_id)
        else:
            row = await loaders.latest_evaluation.load(self.id)
        return Evaluation.from_row(row, info.context.engine.focus) if row else None

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        rows = await by_id(LeadRow)([int(i) for i in node_ids])
        return [cls.from_row(r) if r else None for r in rows]


def lead_snapshot(row: LeadRow) -> dict[str, Any]:
    """The lead as a first response showed it, JSON-safe: idempotent replays return it."""
    built = Lead.from_row(row)
    lead = {f.name: getattr(built, f.name) for f in dataclasses.fields(Lead) if f.init}
    lead["stage"] = row.stage.value
    lead["created_at"] = row.created_at.isoformat()
    lead["updated_at"] = row.updated_at.isoformat()
    return lead


def lead_from_snapshot(snapshot: dict[str, Any]) -> Lead:
    return Lead(
        **{
            **snapshot,
            "stage": LifecycleStage(snapshot["stage"]),
            "created_at": datetime.fromisoformat(snapshot["created_at"]),
            "updated_at": datetime.fromisoformat(snapshot["updated_at"]),
        }
    )


_INIT_FIELDS: Final = tuple(f.name for f in dataclasses.fields(Lead) if f.init)
