"""A person's data in GraphQL: export it as JSON, or erase it (admins only, audited)."""

from __future__ import annotations

import json

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from api import privacy as service
from api.errors import LeadgateError
from schema.context import Info
from schema.errors import UserError, user_error
from schema.ids import node_id
from schema.leads import Lead
from schema.reps import actor


@strawberry.input(description="Export everything stored about one person.")
class ExportLeadInput:
    lead_id: relay.GlobalID = strawberry.field(description="The lead")


@strawberry.type(description="Result of exportLead.")
class ExportLeadPayload:
    data: JSON | None = strawberry.field(
        description="The lead, account, activities, evaluations (with inputs), stage changes, "
        "handoffs, feedback and deals"
    )
    user_errors: list[UserError] = strawberry.field(description="Empty on success")


@strawberry.input(description="Erase one person's data, keeping decisions and aggregates.")
class EraseLeadInput:
    lead_id: relay.GlobalID = strawberry.field(description="The lead")
    reason: str = strawberry.field(description="Why, for the audit trail, e.g. a ticket number")
    tombstone: bool | None = strawberry.field(
        default=None,
        description="Refuse to re-create this email at intake (default: "
        "LEADGATE_ERASURE_TOMBSTONES, on)",
    )


@strawberry.type(description="Result of eraseLead.")
class EraseLeadPayload:
    lead: Lead | None = strawberry.field(description="The lead as it remains")
    user_errors: list[UserError] = strawberry.field(description="Empty on success")


@strawberry.type
class PrivacyMutations:
    @strawberry.mutation(description="Everything stored about a person, as JSON (audited)")
    async def export_lead(self, info: Info, input: ExportLeadInput) -> ExportLeadPayload:
        try:
            data = await service.export_lead(
                lead_id=node_id(input.lead_id, "Lead", "leadId"), actor=actor(info)
            )
        except LeadgateError as exc:
            return ExportLeadPayload(data=None, user_errors=[user_error(exc)])
        plain = json.loads(json.dumps(data, default=str, ensure_ascii=False))
        return ExportLeadPayload(data=plain, user_errors=[])

    @strawberry.mutation(description="Erase a person's data everywhere it is stored (audited)")
    async def erase_lead(self, info: Info, input: EraseLeadInput) -> EraseLeadPayload:
        tombstone = input.tombstone
        if tombstone is None:
            tombstone = info.context.settings.erasure_tombstones
        try:
            row = await service.erase_lead(
                lead_id=node_id(input.lead_id, "Lead", "leadId"),
                reason=input.reason,
                actor=actor(info),
                tombstone=tombstone,
            )
        except LeadgateError as exc:
            return EraseLeadPayload(lead=None, user_errors=[user_error(exc)])
        return EraseLeadPayload(lead=Lead.from_row(row), user_errors=[])
