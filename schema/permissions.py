"""Who may call what: one table from root field to roles, enforced before execution.

Every root field of the schema must appear in POLICY (a test checks it), so a new field is
closed until someone decides who may use it.
"""

from __future__ import annotations

from collections.abc import Iterator

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)
from graphql import ExecutionResult as GraphQLExecutionResult
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from api.auth import Principal
from api.enums import Role

EVERYONE = frozenset(Role)
INTAKE = frozenset({Role.INTEGRATION, Role.MARKETING, Role.ADMIN})
TRIGGER = frozenset({Role.INTEGRATION, Role.MARKETING, Role.REVOPS, Role.ADMIN})
SALES = frozenset({Role.SALES, Role.ADMIN})
ADMIN = frozenset({Role.ADMIN})
WEBHOOKS = frozenset({Role.ADMIN, Role.REVOPS})
REP_ADMIN = frozenset({Role.REVOPS, Role.ADMIN})
CAMPAIGN_ADMIN = frozenset({Role.MARKETING, Role.REVOPS, Role.ADMIN})
RULEBOOK = frozenset({Role.REVOPS, Role.ADMIN})

POLICY: dict[str, frozenset[Role]] = {
    # queries: everyone with a key may read
    "node": EVERYONE,
    "leads": EVERYONE,
    "lead": EVERYONE,
    "evaluation": EVERYONE,
    "handoffs": EVERYONE,
    "rulebook": EVERYONE,
    "viewer": EVERYONE,
    "targetingAdjustments": EVERYONE,
    "unroutedLeads": EVERYONE,
    # issue 16: distribution fairness (RevOps, admins, sales managers)
    "fairnessReport": frozenset({Role.SALES, Role.REVOPS, Role.ADMIN}),
    # subscriptions (``handoffs`` shares its name, and its policy, with the query)
    "evaluations": EVERYONE,
    # intake and triggers
    "upsertLead": INTAKE,
    "recordActivities": frozenset({Role.INTEGRATION, Role.ADMIN}),
    "evaluateLead": TRIGGER,
    # sales decisions
    "acceptHandoff": SALES,
    "rejectHandoff": SALES,
    "recycleLead": SALES,
    "disqualifyLead": SALES,
    # deals, metrics and goals (issue 5); setGoal also checks the team per role
    "deals": EVERYONE,
    "deal": EVERYONE,
    "metrics": EVERYONE,
    "metricDefinitions": EVERYONE,
    "funnel": EVERYONE,
    "goals": EVERYONE,
    "createDeal": SALES,
    "moveDealStage": SALES,
    "closeDeal": SALES,
    "reopenDeal": SALES,
    "updateDeal": SALES,
    "churnAccount": frozenset({Role.SALES, Role.REVOPS, Role.ADMIN}),
    "setGoal": frozenset({Role.MARKETING, Role.SALES, Role.REVOPS, Role.ADMIN}),
    # feedback → targeting (issue 11)
    "revokeTargetingAdjustment": frozenset({Role.REVOPS, Role.ADMIN}),
    # rulebook lifecycle (issue 10)
    "rulebookVersions": RULEBOOK,
    "publishRulebook": RULEBOOK,
    "activateRulebook": RULEBOOK,
    "bulkJob": RULEBOOK,
    "bulkJobs": RULEBOOK,
    "simulateRulebook": RULEBOOK,
    "shadowReport": RULEBOOK,
    "startShadow": RULEBOOK,
    "stopShadow": RULEBOOK,
    # administration
    "createApiKey": ADMIN,
    "revokeApiKey": ADMIN,
    # webhooks (issue 15): integrations are managed by admins and RevOps
    "webhookEventTypes": WEBHOOKS,
    "webhookEndpoints": WEBHOOKS,
    "webhookDeliveries": WEBHOOKS,
    "createWebhookEndpoint": WEBHOOKS,
    "updateWebhookEndpoint": WEBHOOKS,
    "deleteWebhookEndpoint": WEBHOOKS,
    "redeliverWebhook": WEBHOOKS,
    # the admin surface (issue 14): reps, campaigns, accounts, keys
    "reps": EVERYONE,
    "createRep": REP_ADMIN,
    "updateRep": REP_ADMIN,
    "deactivateRep": REP_ADMIN,
    # working time (issue 16): a rep's own key (bound sales key) or RevOps/admin; the rep check
    # is in schema/worktime.py (and schema/rep_binding.py for the rep id)
    "addRepAbsence": frozenset({Role.SALES, Role.REVOPS, Role.ADMIN}),
    "removeRepAbsence": frozenset({Role.SALES, Role.REVOPS, Role.ADMIN}),
    "setRepWorkingTime": REP_ADMIN,
    "campaigns": EVERYONE,
    "createCampaign": CAMPAIGN_ADMIN,
    "updateCampaign": CAMPAIGN_ADMIN,
    "closeCampaign": CAMPAIGN_ADMIN,
    "addCampaignCost": CAMPAIGN_ADMIN,
    "accounts": EVERYONE,
    "apiKeys": ADMIN,
    "auditEntries": ADMIN,
    "exportLead": ADMIN,
    "eraseLead": ADMIN,
}

INTROSPECTION = frozenset({"__typename", "__schema", "__type"})


def root_fields(
    operation: OperationDefinitionNode, fragments: dict[str, FragmentDefinitionNode]
) -> Iterator[str]:
    """Names of the root fields an operation selects, through fragments at the root."""
    yield from _fields(operation.selection_set, fragments, set())


def _fields(
    selection_set: SelectionSetNode,
    fragments: dict[str, FragmentDefinitionNode],
    seen: set[str],
) -> Iterator[str]:
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            yield selection.name.value
        elif isinstance(selection, InlineFragmentNode):
            yield from _fields(selection.selection_set, fragments, seen)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name in fragments and name not in seen:  # cycles are a validation error anyway
                seen.add(name)
                yield from _fields(fragments[name].selection_set, fragments, seen)


def _denied(message: str, code: str) -> GraphQLExecutionResult:
    return GraphQLExecutionResult(
        data=None, errors=[GraphQLError(message, extensions={"code": code})]
    )


def _operation(
    document: DocumentNode, name: str | None
) -> tuple[OperationDefinitionNode | None, dict[str, FragmentDefinitionNode]]:
    fragments: dict[str, FragmentDefinitionNode] = {}
    chosen = None
    for definition in document.definitions:
        if isinstance(definition, FragmentDefinitionNode):
            fragments[definition.name.value] = definition
        elif (
            isinstance(definition, OperationDefinitionNode)
            and chosen is None
            and (name is None or (definition.name and definition.name.value == name))
        ):
            chosen = definition
    return chosen, fragments


def denied_fields(principal: Principal, document: DocumentNode, name: str | None) -> list[str]:
    """Root fields of the chosen operation that the principal's role may not use."""
    operation, fragments = _operation(document, name)
    if operation is None:
        return []
    return sorted(
        {
            field
            for field in root_fields(operation, fragments)
            if field not in INTROSPECTION and principal.role not in POLICY.get(field, frozenset())
        }
    )


class RoleGuard(SchemaExtension):
    """Checks the caller's role against POLICY for every root field, before anything runs."""

    def on_execute(self) -> Iterator[None]:
        ctx = self.execution_context
        principal: Principal | None = getattr(ctx.context, "principal", None)
        if ctx.graphql_document is not None:
            if principal is None:
                reason = getattr(ctx.context, "auth_error", None) or "missing API key"
                ctx.result = _denied(
                    f"{reason}: send `Authorization: Bearer <api key>`", "unauthenticated"
                )
            elif denied := denied_fields(principal, ctx.graphql_document, ctx.operation_name):
                ctx.result = _denied(
                    f"role {principal.role} may not use {', '.join(denied)}", "permission_denied"
                )
            if ctx.result is not None and ctx.operation_type == OperationType.SUBSCRIPTION:
                # strawberry runs subscriptions whatever the result says: refuse by raising
                raise ctx.result.errors[0]  # type: ignore[index]
        yield
