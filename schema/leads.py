"""Leads and accounts in GraphQL: thin resolvers over api.leads."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import asdict
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any, Final, Self, cast

import strawberry
from strawberry import relay
from tortoise.expressions import Q
from tortoise.queryset import QuerySet

from api import leads as service
from api.enums import EvaluationTrigger, LifecycleStage
from api.errors import EngineFailure, InvalidInput, LeadgateError
from api.idempotency import run_idempotent
from api.models import Activity as ActivityRow
from api.models import Evaluation as EvaluationRow
from api.models import Feedback as FeedbackRow
from api.models import Lead as LeadRow
from api.models import LeadStageChange as LeadStageChangeRow
from api.qualification import evaluate_lead
from schema.accounts import Account
from schema.context import Info
from schema.errors import UserError, user_error
from schema.evaluations import Evaluation
from schema.ids import node_id
from schema.lead_page import read_page
from schema.loaders import by_id
from schema.pagination import (
    MAX_ID,
    Connection,
    build_connection,
    decode_cursor_key,
    id_connection,
    page_size,
)
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


@strawberry.input(description="Firmographics sent with a lead. They update the matched account.")
class CompanyInput:
    website: str | None = strawberry.field(default=None, description="Overrides the email domain")
    name: str | None = strawberry.field(default=None, description="Company name")
    industry: str | None = strawberry.field(default=None, description="Industry")
    employee_count: int | None = strawberry.field(default=None, description="Headcount")
    annual_revenue: Decimal | None = strawberry.field(default=None, description="USD per year")
    country: str | None = strawberry.field(default=None, description="ISO alpha-2")


@strawberry.input(description="A lead as an integration knows it. Omitted fields are kept.")
class UpsertLeadInput:
    email: str = strawberry.field(description="Natural key. Validated and lower-cased")
    external_id: str | None = strawberry.field(default=None, description="Integration's id")
    first_name: str | None = strawberry.field(default=None, description="Given name")
    last_name: str | None = strawberry.field(default=None, description="Family name")
    title: str | None = strawberry.field(default=None, description="Job title")
    seniority: str | None = strawberry.field(default=None, description="Seniority level")
    department: str | None = strawberry.field(default=None, description="Department")
    country: str | None = strawberry.field(default=None, description="ISO alpha-2")
    source: str | None = strawberry.field(default=None, description="Lead source")
    campaign_key: str | None = strawberry.field(default=None, description="Attributed campaign")
    company: CompanyInput | None = strawberry.field(default=None, description="Firmographics")
    idempotency_key: str | None = strawberry.field(
        default=None, description="Replays return the first result"
    )


@strawberry.type(description="Result of upsertLead: the lead, or what was wrong.")
class UpsertLeadPayload:
    lead: Lead | None = strawberry.field(description="The created or updated lead")
    created: bool = strawberry.field(description="True when this call created the lead")
    evaluation: Evaluation | None = strawberry.field(description="The evaluation it triggered")
    user_errors: list[UserError] = strawberry.field(description="Empty on success")


@strawberry.enum(description="How a list of leads is sorted")
class LeadOrder(Enum):
    NEWEST = "newest"
    OLDEST = "oldest"
    FIT_SCORE = "fit_score"
    ENGAGEMENT_SCORE = "engagement_score"

    @property
    def score(self) -> str | None:
        """The score column this order sorts on, if any (descending, ties newest first)."""
        return self.value if self in (LeadOrder.FIT_SCORE, LeadOrder.ENGAGEMENT_SCORE) else None

    def key(self, row: Lead) -> str:
        """The cursor key: the ordering, its sort value and the id that breaks ties."""
        if self.score is None:
            return f"{self.value}:{row.id}"
        return f"{self.value}:{getattr(row, self.score)!r}:{row.id}"

    def page(self, query: QuerySet[LeadRow], after: str | None) -> QuerySet[LeadRow]:
        """Order, and continue strictly after the cursor's (value, id): a keyset, no OFFSET."""
        if self == LeadOrder.OLDEST:
            query = query.order_by("id")
        elif self.score is not None:
            query = query.order_by(f"-{self.score}", "-id")
        else:
            query = query.order_by("-id")
        if after is None:
            return query
        parts = decode_cursor_key("lead", after).split(":")
        try:
            if parts[0] != self.value:
                raise ValueError(parts[0])
            last_id = int(parts[-1])
            if not 0 <= last_id <= MAX_ID:
                raise ValueError(last_id)
            value = float(parts[1]) if self.score is not None else None
        except (ValueError, IndexError) as exc:
            raise InvalidInput(
                "this cursor belongs to another ordering",
                field="after",
                suggestion="page with the orderBy the cursor came from",
            ) from exc
        if self == LeadOrder.OLDEST:
            return query.filter(id__gt=last_id)
        if self.score is None:
            return query.filter(id__lt=last_id)
        below: dict[str, Any] = {f"{self.score}__lt": value}
        tied: dict[str, Any] = {self.score: value, "id__lt": last_id}
        return query.filter(Q(**below) | Q(**tied))


LeadConnection = Connection[Lead]
_INIT_FIELDS: Final = tuple(f.name for f in dataclasses.fields(Lead) if f.init)
LIST_COLUMNS: Final = (
    *("id", "fit_score", "engagement_score", "erased_at", "account_id", "owner_id"),
    "last_evaluation_id",
)
"""What a list page reads of a lead besides the columns of the fields it shows: the id, the
cursors' scores, the relations' keys, and what the headline cache keys on."""
"""What a list page reads of a lead: the type's columns, not the JSON ones (scores,
properties) nor the timestamps the type does not show."""


@strawberry.type
class LeadQueries:
    @strawberry.field(description="Leads, filtered and ordered, one keyset page at a time")
    async def leads(
        self,
        info: Info,
        first: Annotated[int | None, strawberry.argument(description="Page size, ≤100")] = None,
        after: Annotated[str | None, strawberry.argument(description="endCursor")] = None,
        stage: Annotated[Stage | None, strawberry.argument(description="Only this stage")] = None,
        owner_id: Annotated[
            relay.GlobalID | None, strawberry.argument(description="Only this rep's leads")
        ] = None,
        source: Annotated[str | None, strawberry.argument(description="Only this source")] = None,
        order_by: Annotated[
            LeadOrder, strawberry.argument(description="Sort order (ties: newest first)")
        ] = LeadOrder.NEWEST,
    ) -> LeadConnection:
        size = page_size(first)
        query = LeadRow.all()
        if stage is not None:
            query = query.filter(stage=stage)
        if source is not None:
            query = query.filter(source=source)
        if owner_id is not None:
            query = query.filter(owner_id=node_id(owner_id, "SalesRep", "ownerId"))
        count = query.count
        page = await read_page(info, order_by.page(query, after), size + 1)
        return build_connection(
            "lead", page, [order_by.key(lead) for lead in page], size, after, count=count
        )

    @strawberry.field(description="One lead by global id, or null")
    async def lead(self, info: Info, id: relay.GlobalID) -> Lead | None:
        if id.type_name != "Lead":
            return None
        row = await LeadRow.get_or_none(id=int(id.node_id))
        return Lead.from_row(row) if row else None


@strawberry.type
class LeadMutations:
    @strawberry.mutation(
        description="Create or update a lead by email (or external id), then evaluate it"
    )
    async def upsert_lead(self, info: Info, input: UpsertLeadInput) -> UpsertLeadPayload:
        engine = info.context.engine
        email, data, company = _service_args(input)

        async def run() -> dict[str, Any]:
            result = await service.upsert_lead(email=email, data=data, company=company)
            response: dict[str, Any] = {"lead_id": result.lead.id, "created": result.created}
            try:
                outcome = await evaluate_lead(
                    engine=engine, lead_id=result.lead.id, trigger=EvaluationTrigger.API
                )
            except EngineFailure as exc:  # the lead is kept: evaluateLead can retry later
                response["engine_failure"] = exc.message
                return response
            assert outcome.evaluation is not None
            return {
                **response,
                "evaluation_id": outcome.evaluation.id,
                "lead": lead_snapshot(outcome.lead),
            }

        try:
            response = await run_idempotent(
                key=input.idempotency_key,
                operation="upsertLead",
                request={"email": email, "data": asdict(data), "company": asdict(company)},
                action=run,
            )
        except LeadgateError as exc:
            return UpsertLeadPayload(
                lead=None, created=False, evaluation=None, user_errors=[user_error(exc)]
            )
        lead = (
            lead_from_snapshot(response["lead"])
            if "lead" in response
            else Lead.from_row(await LeadRow.get(id=response["lead_id"]))
        )
        if "evaluation_id" not in response:
            failure = EngineFailure(response["engine_failure"], suggestion="retry evaluateLead")
            return UpsertLeadPayload(
                lead=lead,
                created=response["created"],
                evaluation=None,
                user_errors=[user_error(failure, prefix=())],
            )
        evaluation = await EvaluationRow.get(id=response["evaluation_id"])
        return UpsertLeadPayload(
            lead=lead,
            created=response["created"],
            evaluation=Evaluation.from_row(evaluation, engine.focus),
            user_errors=[],
        )


def _service_args(
    input: UpsertLeadInput,
) -> tuple[str, service.LeadData, service.CompanyData]:
    company = input.company or CompanyInput()
    return (
        input.email,
        service.LeadData(
            external_id=input.external_id,
            first_name=input.first_name,
            last_name=input.last_name,
            title=input.title,
            seniority=input.seniority,
            department=input.department,
            country=input.country,
            source=input.source,
            campaign_key=input.campaign_key,
        ),
        service.CompanyData(
            website=company.website,
            name=company.name,
            industry=company.industry,
            employee_count=company.employee_count,
            annual_revenue=company.annual_revenue,
            country=company.country,
        ),
    )
