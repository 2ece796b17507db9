"""Leads in GraphQL: the list and one-lead queries, and upsertLead. The Lead type itself is in
schema/lead_type.py (re-exported here, where the other modules import it from)."""

from __future__ import annotations

from dataclasses import asdict
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any

import strawberry
from strawberry import relay
from tortoise.expressions import Q
from tortoise.queryset import QuerySet

from api import leads as service
from api.enums import EvaluationTrigger
from api.errors import EngineFailure, InvalidInput, LeadgateError
from api.idempotency import run_idempotent
from api.models import Evaluation as EvaluationRow
from api.models import Lead as LeadRow
from api.qualification import evaluate_lead
from schema.context import Info
from schema.errors import UserError, user_error
from schema.evaluations import Evaluation
from schema.ids import node_id
from schema.lead_page import read_page
from schema.lead_type import Lead, Stage, lead_from_snapshot, lead_snapshot
from schema.pagination import (
    MAX_ID,
    Connection,
    build_connection,
    decode_cursor_key,
    page_size,
)

__all__ = [
    "Lead",
    "LeadConnection",
    "LeadMutations",
    "LeadOrder",
    "LeadQueries",
    "UpsertLeadInput",
    "lead_from_snapshot",
    "lead_snapshot",
]


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
