"""Sales decisions on a lead in GraphQL: recycling it to nurture or disqualifying it, with a
rulebook reason code. Thin over api.feedback."""

from __future__ import annotations

import strawberry
from strawberry import relay

from api import feedback as feedback_service
from api.enums import LifecycleStage
from api.errors import LeadgateError
from schema.context import Info
from schema.errors import UserError, user_error
from schema.followups import capacity_freed, feedback_recorded
from schema.ids import node_id
from schema.leads import Lead


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


@strawberry.type
class FeedbackMutations:
    @strawberry.mutation(description="Send a lead back to nurture, with a reason")
    async def recycle_lead(self, info: Info, input: ChangeLeadStageInput) -> LeadPayload:
        return await _change_stage(info, input, LifecycleStage.RECYCLED)

    @strawberry.mutation(description="Disqualify a lead, with a reason")
    async def disqualify_lead(self, info: Info, input: ChangeLeadStageInput) -> LeadPayload:
        return await _change_stage(info, input, LifecycleStage.DISQUALIFIED)


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
