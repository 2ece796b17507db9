"""Evaluating a lead in GraphQL: evaluateLead (and its dry run) and stored evaluations by id.
Thin over api.qualification."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import strawberry
from strawberry import relay

from api.engine import Focus
from api.enums import EvaluationTrigger
from api.errors import LeadgateError, NotFound
from api.evaluations import why_not_now
from api.idempotency import run_idempotent
from api.models import Evaluation as EvaluationRow
from api.models import Handoff as HandoffRow
from api.models import Lead as LeadRow
from api.qualification import EvaluationOutcome, evaluate_lead
from rules import RuleExplanation as RuleExplanationData
from schema.context import Info
from schema.errors import UserError, user_error
from schema.evaluations import Evaluation, EvaluationReport, Explain
from schema.handoffs import Handoff
from schema.headlines import HEADLINES, headline_key
from schema.ids import node_id
from schema.leads import Lead, lead_from_snapshot, lead_snapshot


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
        else await EvaluationRow.get_or_none(id=response["evaluation_id"])
    )
    if row is None:  # a replayed key whose record was removed since
        raise NotFound(
            f"the evaluation record {response['evaluation_id']} is gone",
            field="idempotencyKey",
            suggestion="use a fresh key to evaluate the lead again",
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
    if fresh is not None and fresh.recorded and row is fresh.evaluation:
        evaluation.explain_now = _explain_now(fresh, engine.focus)  # no replay of the record
    return EvaluateLeadPayload(
        report=evaluation.make_report(),
        evaluation=evaluation,
        lead=lead,
        handoff=Handoff.from_row(handoff) if handoff else None,
        user_errors=[],
    )


def _explain_now(fresh: EvaluationOutcome, focus: Focus) -> Explain:
    """ "Why not" of the evaluation at hand, computed only if the answer shows it (the engine
    was asked for none: most answers show a remembered headline, or no report)."""

    async def explain(only: Collection[str] | None) -> list[RuleExplanationData]:
        return await why_not_now(fresh.input, fresh.result, focus.explainers, only=only)

    return explain


def _ids(outcome: EvaluationOutcome) -> dict[str, Any]:
    if outcome.evaluation is None:  # api.qualification records one whenever none backs it
        raise NotFound(
            f"lead {outcome.lead.id} has no evaluation record in force",
            field="leadId",
            suggestion="evaluate the lead again",
        )
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
                    engine=engine, lead_id=lead_id, trigger=EvaluationTrigger.API, explain=False
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
