"""Intake, evaluation, handoffs and sales decisions in GraphQL: thin over the api services."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated, Any, Self, cast

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from api import activities as activity_service
from api import feedback as feedback_service
from api import handoffs as handoff_service
from api.enums import EvaluationTrigger, HandoffStatus, LifecycleStage
from api.errors import EngineFailure, InvalidInput, LeadgateError
from api.idempotency import run_idempotent
from api.models import Evaluation as EvaluationRow
from api.models import Handoff as HandoffRow
from api.models import Lead as LeadRow
from api.qualification import EvaluationOutcome, evaluate_lead
from schema.context import Info
from schema.distribution import HandoffStep
from schema.errors import UserError, user_error
from schema.evaluations import Evaluation, EvaluationReport
from schema.followups import capacity_freed, feedback_recorded
from schema.headlines import HEADLINES, headline_key
from schema.ids import node_id
from schema.leads import Lead, lead_from_snapshot, lead_snapshot
from schema.loaders import by_id
from schema.pagination import (
    Connection,
    build_connection,
    decode_cursor,
    memory_connection,
    page_size,
)
from schema.reps import SalesRep


@strawberry.type(description="A qualified lead handed to a sales owner, with a deadline.")
class Handoff(relay.Node):
    id: relay.NodeID[int]
    status: HandoffStatus = strawberry.field(
        description="pending, accepted, rejected, expired, queued (in a fallback queue)"
    )
    priority: str = strawberry.field(description="SLA priority")
    sla_deadline: datetime = strawberry.field(description="First touch is due by then")
    reason_code: str | None = strawberry.field(description="Rejection reason code")
    note: str | None = strawberry.field(description="Rejection note")
    decided_at: datetime | None = strawberry.field(description="Accepted or rejected at")
    breached_at: datetime | None = strawberry.field(description="When the SLA was breached")
    created_at: datetime = strawberry.field(description="Handed off at")
    route: str | None = strawberry.field(description="The route that picked the first owner")
    escalations: int = strawberry.field(description="Times it went to the next rep")
    escalate_at: datetime | None = strawberry.field(
        description="When it goes to the next rep or the fallback if still not accepted"
    )
    queue: str | None = strawberry.field(description="The fallback queue (status queued)")
    lead_id: strawberry.Private[int]
    owner_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: HandoffRow, now: datetime | None = None) -> Self:
        return cls(
            id=row.id,
            status=handoff_service.shown_status(row, now or datetime.now(UTC)),
            priority=row.priority,
            sla_deadline=row.sla_deadline,
            reason_code=row.reason_code,
            note=row.note,
            decided_at=row.decided_at,
            breached_at=row.breached_at,
            created_at=row.created_at,
            route=row.route,
            escalations=row.escalations,
            escalate_at=row.escalate_at,
            queue=row.queue,
            lead_id=row.lead_id,  # type: ignore[attr-defined]
            owner_id=row.owner_id,  # type: ignore[attr-defined]
        )

    @strawberry.field(description="The lead handed off")
    async def lead(self, info: Info) -> Lead:
        row = await info.context.loaders.lead.load(self.lead_id)
        assert row is not None  # handoffs cascade with their lead
        return Lead.from_row(row)

    @strawberry.field(description="The sales owner")
    async def owner(self, info: Info) -> SalesRep | None:
        row = await info.context.loaders.rep.load(self.owner_id)
        return SalesRep.from_row(row) if row else None

    @strawberry.field(description="Every owner it had and why (assignment, escalations, fallback)")
    async def steps(
        self,
        info: Info,
        first: Annotated[int | None, strawberry.argument(description="Page size, ≤100")] = None,
        after: Annotated[str | None, strawberry.argument(description="endCursor")] = None,
    ) -> Connection[HandoffStep]:
        rows = await info.context.loaders.handoff_steps.load(self.id)
        return memory_connection(
            "handoff_step", rows, HandoffStep.from_row, first=first, after=after
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: strawberry.Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        rows = await by_id(HandoffRow)([int(i) for i in node_ids])
        return [cls.from_row(r) if r else None for r in rows]


@strawberry.input(description="Evaluate one lead now.")
class EvaluateLeadInput:
    lead_id: relay.GlobalID = strawberry.field(description="The lead")
    dry_run: bool = strawberry.field(default=False, description="Explain only, write nothing")
    idempotency_key: str | None = strawberry.field(
        default=None, description="Replays return the first result"
    )


@strawberry.type(description="Result of evaluateLead.")
class EvaluateLeadPayload:
    report: EvaluationReport | None = strawberry.field(description="Outcome and explanation")
    evaluation: Evaluation | None = strawberry.field(description="Stored record (not on dry run)")
    lead: Lead | None = strawberry.field(description="The lead after the evaluation")
    handoff: Handoff | None = strawberry.field(description="Handoff created by this evaluation")
    user_errors: list[UserError] = strawberry.field(description="Empty on success")


@strawberry.input(description="One thing a lead did.")
class ActivityInput:
    lead_id: relay.GlobalID = strawberry.field(description="The lead")
    type: str = strawberry.field(description="e.g. page_view, demo_request")
    occurred_at: datetime = strawberry.field(description="When, with a time zone")
    external_id: str = strawberry.field(description="Your id: replays are stored once")
    source: str | None = strawberry.field(default=None, description="Where it came from")
    campaign_key: str | None = strawberry.field(default=None, description="Attributed campaign")
    properties: JSON | None = strawberry.field(default=None, description="Free-form details")


@strawberry.input(description="A batch of activities (at most 1000).")
class RecordActivitiesInput:
    activities: list[ActivityInput] = strawberry.field(description="The batch")
    idempotency_key: str | None = strawberry.field(
        default=None, description="Replays return the first result"
    )


@strawberry.type(description="What happened to one item of a batch.")
class ActivityResult:
    index: int = strawberry.field(description="Position in the input list")
    activity_id: relay.GlobalID | None = strawberry.field(
        description="Global id of the stored Activity"
    )
    duplicate: bool = strawberry.field(description="External id seen before: not stored again")
    error: UserError | None = strawberry.field(description="Why this item was not stored")


@strawberry.type(description="Result of recordActivities.")
class RecordActivitiesPayload:
    results: list[ActivityResult] = strawberry.field(description="One per input item")
    evaluations: list[Evaluation] = strawberry.field(description="Evaluations triggered")
    user_errors: list[UserError] = strawberry.field(description="Errors about the whole batch")


@strawberry.input(description="Accept a handoff.")
class AcceptHandoffInput:
    handoff_id: relay.GlobalID = strawberry.field(description="The handoff")


@strawberry.input(description="Reject a handoff with a reason code from the rulebook.")
class RejectHandoffInput:
    handoff_id: relay.GlobalID = strawberry.field(description="The handoff")
    reason: str = strawberry.field(description="A `reasons.reject` code of the rulebook")
    note: str | None = strawberry.field(default=None, description="Free text for marketing")


@strawberry.type(description="Result of a handoff decision.")
class HandoffPayload:
    handoff: Handoff | None = strawberry.field(description="The handoff after the decision")
    lead: Lead | None = strawberry.field(description="The lead after the decision")
    user_errors: list[UserError] = strawberry.field(description="Empty on success")


@strawberry.input(description="Recycle or disqualify a lead, with a rulebook reason code.")
class ChangeLeadStageInput:
    lead_id: relay.GlobalID = strawberry.field(description="The lead")
    reason: str = strawberry.field(description="A reason code of the rulebook")
    note: str | None = strawberry.field(default=None, description="Free text")
    expected_version: int | None = strawberry.field(
        default=None, description="Refuse the change if the lead moved past this version"
    )


@strawberry.type(description="Result of recycleLead or disqualifyLead.")
class LeadPayload:
    lead: Lead | None = strawberry.field(description="The lead after the change")
    user_errors: list[UserError] = strawberry.field(description="Empty on success")


async def _evaluation_payload(
    info: Info, response: dict[str, Any], fresh: EvaluationOutcome | None = None
) -> EvaluateLeadPayload:
    """Rebuild a payload from stored ids: first runs and idempotent replays look the same.
    ``fresh``: the outcome this request produced, whose record need not be read again."""
    engine = info.context.engine
    row = (
        fresh.evaluation
        if fresh is not None
        and fresh.evaluation is not None
        and fresh.evaluation.id == response["evaluation_id"]
        else await EvaluationRow.get(id=response["evaluation_id"])
    )
    lead = (
        lead_from_snapshot(response["lead"])
        if "lead" in response
        else Lead.from_row(await LeadRow.get(id=row.lead_id))  # type: ignore[attr-defined]
    )
    handoff = (
        await HandoffRow.get_or_none(id=response["handoff_id"])
        if response.get("handoff_id")
        else None
    )
    key = headline_key(engine, row, erased=lead.erased_at is not None)
    evaluation = Evaluation.from_row(row, engine.focus, headline=HEADLINES.get(key))
    evaluation.remember = key
    return EvaluateLeadPayload(
        report=evaluation.make_report(),
        evaluation=evaluation,
        lead=lead,
        handoff=Handoff.from_row(handoff) if handoff else None,
        user_errors=[],
    )


def _ids(outcome: EvaluationOutcome) -> dict[str, Any]:
    assert outcome.evaluation is not None
    return {
        "evaluation_id": outcome.evaluation.id,
        "handoff_id": outcome.handoff.id if outcome.handoff else None,
        "lead": lead_snapshot(outcome.lead),
    }


@strawberry.type
class QualificationQueries:
    @strawberry.field(description="One stored evaluation by global id")
    async def evaluation(self, info: Info, id: relay.GlobalID) -> Evaluation | None:
        if id.type_name != "Evaluation":
            return None
        row = await EvaluationRow.get_or_none(id=int(id.node_id))
        return Evaluation.from_row(row, info.context.engine.focus) if row else None

    @strawberry.field(description="Handoffs, newest first. Overdue ones show as expired.")
    async def handoffs(
        self,
        info: Info,
        owner_id: Annotated[
            relay.GlobalID | None, strawberry.argument(description="Only this rep's")
        ] = None,
        status: Annotated[
            HandoffStatus | None, strawberry.argument(description="Only this status")
        ] = None,
        first: Annotated[int | None, strawberry.argument(description="Page size ≤100")] = None,
        after: Annotated[str | None, strawberry.argument(description="endCursor")] = None,
    ) -> Connection[Handoff]:
        now = datetime.now(UTC)
        size = page_size(first)
        query = HandoffRow.all().order_by("-id")
        if owner_id is not None:
            query = query.filter(owner_id=node_id(owner_id, "SalesRep", "ownerId"))
        if status is not None:
            query = handoff_service.with_shown_status(query, status, now)
        count = query.count
        if after is not None:
            query = query.filter(id__lt=decode_cursor("handoff", after))
        rows = await query.limit(size + 1)
        return build_connection(
            "handoff",
            [Handoff.from_row(r, now) for r in rows],
            [r.id for r in rows],
            size,
            after,
            count=count,
        )


@strawberry.type
class QualificationMutations:
    @strawberry.mutation(description="Run the rulebook over one lead now (dryRun: explain only)")
    async def evaluate_lead(self, info: Info, input: EvaluateLeadInput) -> EvaluateLeadPayload:
        engine = info.context.engine
        try:
            lead_id = node_id(input.lead_id, "Lead", "leadId")
            if input.dry_run:
                outcome = await evaluate_lead(
                    engine=engine, lead_id=lead_id, trigger=EvaluationTrigger.API, dry_run=True
                )
                return EvaluateLeadPayload(
                    report=EvaluationReport.from_result(
                        outcome.result, engine.focus, fact_input=lambda: outcome.input
                    ),
                    evaluation=None,
                    lead=Lead.from_row(outcome.lead),
                    handoff=None,
                    user_errors=[],
                )

            fresh: list[EvaluationOutcome] = []

            async def run() -> dict[str, Any]:
                outcome = await evaluate_lead(
                    engine=engine, lead_id=lead_id, trigger=EvaluationTrigger.API
                )
                fresh.append(outcome)
                return _ids(outcome)

            response = await run_idempotent(
                key=input.idempotency_key,
                operation="evaluateLead",
                request={"lead_id": lead_id},
                action=run,
            )
            return await _evaluation_payload(info, response, fresh[0] if fresh else None)
        except LeadgateError as exc:
            return EvaluateLeadPayload(
                report=None, evaluation=None, lead=None, handoff=None, user_errors=[user_error(exc)]
            )

    @strawberry.mutation(description="Store a batch of activities, then re-evaluate their leads")
    async def record_activities(
        self, info: Info, input: RecordActivitiesInput
    ) -> RecordActivitiesPayload:
        engine = info.context.engine
        items: list[activity_service.ActivityItem] = []
        errors: dict[int, UserError] = {}
        for index, a in enumerate(input.activities):
            lead_id, properties = 0, {}  # lead 0 never exists: the service rejects the item too
            try:
                lead_id = node_id(a.lead_id, "Lead", "leadId")
                properties = _properties(a.properties)
            except LeadgateError as exc:
                errors[index] = user_error(exc, prefix=("input", "activities", str(index)))
                lead_id = 0
            items.append(
                activity_service.ActivityItem(
                    lead_id=lead_id,
                    type=a.type,
                    occurred_at=a.occurred_at,
                    external_id=a.external_id,
                    source=a.source,
                    campaign_key=a.campaign_key,
                    properties=properties,
                )
            )

        async def run() -> dict[str, Any]:
            batch = await activity_service.record_activities(items=items)
            evaluated: list[int] = []
            failures: list[str] = []
            for lead in batch.affected_lead_ids:
                try:  # the activities are kept either way: evaluateLead can retry
                    outcome = await evaluate_lead(
                        engine=engine, lead_id=lead, trigger=EvaluationTrigger.ACTIVITY
                    )
                    evaluated.append(_ids(outcome)["evaluation_id"])
                except EngineFailure as exc:
                    failures.append(exc.message)
            return {
                "results": [
                    {
                        "index": r.index,
                        "activity_id": r.activity_id,
                        "duplicate": r.duplicate,
                        "error": None if r.error is None else _error_json(r.error),
                    }
                    for r in batch.items
                ],
                "evaluations": evaluated,
                "engine_failures": failures,
            }

        try:
            response = await run_idempotent(
                key=input.idempotency_key,
                operation="recordActivities",
                request={"items": [vars_of(i) for i in items]},
                action=run,
            )
        except LeadgateError as exc:
            return RecordActivitiesPayload(
                results=[], evaluations=[], user_errors=[user_error(exc)]
            )
        rows = {r.id: r for r in await EvaluationRow.filter(id__in=response["evaluations"])}
        failures = [
            user_error(EngineFailure(message, suggestion="retry evaluateLead"), prefix=())
            for message in response["engine_failures"]
        ]
        return RecordActivitiesPayload(
            results=[_activity_result(r, errors) for r in response["results"]],
            evaluations=[
                Evaluation.from_row(rows[i], engine.focus) for i in response["evaluations"]
            ],
            user_errors=failures,
        )

    @strawberry.mutation(description="The owner takes the lead (lead becomes SAL)")
    async def accept_handoff(self, info: Info, input: AcceptHandoffInput) -> HandoffPayload:
        try:
            principal = info.context.principal
            handoff = await handoff_service.accept_handoff(
                handoff_id=node_id(input.handoff_id, "Handoff", "handoffId"),
                actor=principal.actor if principal else "api",
                rep_id=principal.rep_id if principal else None,
            )
        except LeadgateError as exc:
            return HandoffPayload(handoff=None, lead=None, user_errors=[user_error(exc)])
        capacity_freed(info)
        return await _handoff_payload(handoff)

    @strawberry.mutation(description="Sales rejects a handoff with a reason (lead is recycled)")
    async def reject_handoff(self, info: Info, input: RejectHandoffInput) -> HandoffPayload:
        principal = info.context.principal
        try:
            handoff = await handoff_service.reject_handoff(
                engine=info.context.engine,
                handoff_id=node_id(input.handoff_id, "Handoff", "handoffId"),
                reason=input.reason,
                note=input.note,
                actor=principal.actor if principal else "api",
                rep_id=principal.rep_id if principal else None,
            )
        except LeadgateError as exc:
            return HandoffPayload(handoff=None, lead=None, user_errors=[user_error(exc)])
        capacity_freed(info)
        feedback_recorded(info)
        return await _handoff_payload(handoff)

    @strawberry.mutation(description="Send a lead back to nurture, with a reason")
    async def recycle_lead(self, info: Info, input: ChangeLeadStageInput) -> LeadPayload:
        return await _change_stage(info, input, LifecycleStage.RECYCLED)

    @strawberry.mutation(description="Disqualify a lead, with a reason")
    async def disqualify_lead(self, info: Info, input: ChangeLeadStageInput) -> LeadPayload:
        return await _change_stage(info, input, LifecycleStage.DISQUALIFIED)


def _properties(value: JSON | None) -> dict[str, Any]:
    """Free-form, but an object: anything else is a client bug worth saying so."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput("properties must be a JSON object", field="properties")
    return cast(dict[str, Any], value)


def vars_of(item: activity_service.ActivityItem) -> dict[str, Any]:
    return {
        "lead_id": item.lead_id,
        "type": item.type,
        "occurred_at": item.occurred_at.isoformat(),
        "external_id": item.external_id,
        "source": item.source,
        "campaign_key": item.campaign_key,
        "properties": item.properties,
    }


def _error_json(error: LeadgateError) -> dict[str, Any]:
    return {
        "code": error.code,
        "message": error.message,
        "field": error.field,
        "suggestion": error.suggestion,
    }


def _activity_result(raw: dict[str, Any], errors: dict[int, UserError]) -> ActivityResult:
    index = raw["index"]
    error = errors.get(index)
    if error is None and raw["error"] is not None:
        e = raw["error"]
        field = e["field"]
        error = UserError(
            code=e["code"],
            message=e["message"],
            field=["input", "activities", str(index), *field.split(".")] if field else None,
            suggestion=e["suggestion"],
        )
    return ActivityResult(
        index=index,
        activity_id=relay.GlobalID("Activity", str(raw["activity_id"]))
        if raw["activity_id"] is not None
        else None,
        duplicate=raw["duplicate"],
        error=error,
    )


async def _handoff_payload(handoff: HandoffRow) -> HandoffPayload:
    lead = await LeadRow.get(id=handoff.lead_id)  # type: ignore[attr-defined]
    return HandoffPayload(
        handoff=Handoff.from_row(handoff), lead=Lead.from_row(lead), user_errors=[]
    )


async def _change_stage(
    info: Info, input: ChangeLeadStageInput, target: LifecycleStage
) -> LeadPayload:
    principal = info.context.principal
    try:
        lead = await feedback_service.change_lead_stage(
            engine=info.context.engine,
            lead_id=node_id(input.lead_id, "Lead", "leadId"),
            target=target,
            reason=input.reason,
            note=input.note,
            actor=principal.actor if principal else "api",
            rep_id=principal.rep_id if principal else None,
            expected_version=input.expected_version,
        )
    except LeadgateError as exc:
        return LeadPayload(lead=None, user_errors=[user_error(exc)])
    capacity_freed(info)
    feedback_recorded(info)
    return LeadPayload(lead=Lead.from_row(lead), user_errors=[])
