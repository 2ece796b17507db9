"""Activity intake in GraphQL: recordActivities stores a batch, then re-evaluates the leads
it touched. Thin over api.activities and api.qualification."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from api import activities as activity_service
from api.enums import EvaluationTrigger
from api.errors import EngineFailure, InvalidInput, LeadgateError
from api.idempotency import run_idempotent
from api.models import Evaluation as EvaluationRow
from api.qualification import evaluate_lead
from schema.context import Info
from schema.errors import UserError, user_error
from schema.evaluations import Evaluation
from schema.ids import node_id


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


@strawberry.type
class ActivityMutations:
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
                    assert outcome.evaluation is not None
                    evaluated.append(outcome.evaluation.id)
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
