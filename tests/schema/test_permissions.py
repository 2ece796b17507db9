"""Every role against every root field: the POLICY table is what the server enforces."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from api.enums import Role
from schema.permissions import POLICY
from tests.conftest import GqlFactory, GraphQLClient

MISSING_LEAD = "TGVhZDo5OTk5OTk="  # Lead:999999
MISSING_HANDOFF = "SGFuZG9mZjo5OTk5OTk="  # Handoff:999999
MISSING_DEAL = "RGVhbDo5OTk5OTk="  # Deal:999999
MISSING_ACCOUNT = "QWNjb3VudDo5OTk5OTk="  # Account:999999
MISSING_ENDPOINT = "V2ViaG9va0VuZHBvaW50Ojk5OTk5OQ=="  # WebhookEndpoint:999999
MISSING_DELIVERY = "V2ViaG9va0RlbGl2ZXJ5Ojk5OTk5OQ=="  # WebhookDelivery:999999
MISSING_REP = "U2FsZXNSZXA6OTk5OTk5"  # SalesRep:999999
MISSING_CAMPAIGN = "Q2FtcGFpZ246OTk5OTk5"  # Campaign:999999
MISSING_JOB = "QnVsa0pvYjo5OTk5OTk="  # BulkJob:999999
DEAL = f'dealId: "{MISSING_DEAL}", expectedVersion: 1'
JANUARY = 'from: "2026-01-01", to: "2026-01-31"'

# One harmless operation per root field: on a missing object it fails with a user error,
# never with a permission error, so what decides the outcome is the role alone.
OPERATIONS: dict[str, str] = {
    "node": f'{{ node(id: "{MISSING_LEAD}") {{ id }} }}',
    "leads": "{ leads(first: 1) { edges { cursor } } }",
    "lead": f'{{ lead(id: "{MISSING_LEAD}") {{ id }} }}',
    "evaluation": '{ evaluation(id: "RXZhbHVhdGlvbjox") { id } }',
    "handoffs": "{ handoffs(first: 1) { edges { cursor } } }",
    "rulebook": "{ rulebook { version } }",
    "viewer": "{ viewer { role } }",
    "targetingAdjustments": "{ targetingAdjustments { totalCount } }",
    "unroutedLeads": "{ unroutedLeads(first: 1) { edges { cursor } } }",
    "revokeTargetingAdjustment": (
        'mutation { revokeTargetingAdjustment(input: {id: "VGFyZ2V0aW5nQWRqdXN0bWVudDo5OTk=", '
        'reason: "x"}) { userErrors { code } } }'
    ),
    "upsertLead": 'mutation { upsertLead(input: {email: "nope"}) { userErrors { code } } }',
    "recordActivities": (
        "mutation { recordActivities(input: {activities: []}) { userErrors { code } } }"
    ),
    "evaluateLead": (
        f'mutation {{ evaluateLead(input: {{leadId: "{MISSING_LEAD}"}}) '
        "{ userErrors { code } } }"
    ),
    "acceptHandoff": (
        f'mutation {{ acceptHandoff(input: {{handoffId: "{MISSING_HANDOFF}"}}) '
        "{ userErrors { code } } }"
    ),
    "rejectHandoff": (
        f'mutation {{ rejectHandoff(input: {{handoffId: "{MISSING_HANDOFF}", '
        'reason: "too_small"}) { userErrors { code } } }'
    ),
    "recycleLead": (
        f'mutation {{ recycleLead(input: {{leadId: "{MISSING_LEAD}", reason: "bad_timing"}}) '
        "{ userErrors { code } } }"
    ),
    "disqualifyLead": (
        f'mutation {{ disqualifyLead(input: {{leadId: "{MISSING_LEAD}", reason: "spam"}}) '
        "{ userErrors { code } } }"
    ),
    "createApiKey": (
        'mutation { createApiKey(input: {name: "x", role: VIEWER}) { userErrors { code } } }'
    ),
    "revokeApiKey": 'mutation { revokeApiKey(input: {prefix: "nope"}) { userErrors { code } } }',
    "deals": "{ deals(first: 1) { edges { cursor } } }",
    "deal": f'{{ deal(id: "{MISSING_DEAL}") {{ id }} }}',
    "metrics": (
        f'{{ metrics(period: MONTH, {JANUARY}, names: ["new_leads"]) {{ userErrors {{ code }} }} }}'
    ),
    "metricDefinitions": "{ metricDefinitions { name } }",
    "funnel": f"{{ funnel({JANUARY}) {{ userErrors {{ code }} }} }}",
    "goals": f"{{ goals({JANUARY}) {{ userErrors {{ code }} }} }}",
    "createDeal": (
        f'mutation {{ createDeal(input: {{name: "x", amount: "1", accountId: "{MISSING_ACCOUNT}"}})'
        " { userErrors { code } } }"
    ),
    "moveDealStage": (
        f"mutation {{ moveDealStage(input: {{{DEAL}, stage: DEMO}}) {{ userErrors {{ code }} }} }}"
    ),
    "closeDeal": (
        f"mutation {{ closeDeal(input: {{{DEAL}, outcome: WON}}) {{ userErrors {{ code }} }} }}"
    ),
    "reopenDeal": (
        f'mutation {{ reopenDeal(input: {{{DEAL}, reason: "x"}}) {{ userErrors {{ code }} }} }}'
    ),
    "updateDeal": (
        f'mutation {{ updateDeal(input: {{{DEAL}, amount: "1"}}) {{ userErrors {{ code }} }} }}'
    ),
    "churnAccount": (
        f'mutation {{ churnAccount(input: {{accountId: "{MISSING_ACCOUNT}", '
        'churnedAt: "2026-01-01T00:00:00Z"}) { userErrors { code } } }'
    ),
    "reps": "{ reps(first: 1) { totalCount } }",
    "createRep": (
        'mutation { createRep(input: {email: "nope", name: "x", territory: "NA"}) '
        "{ userErrors { code } } }"
    ),
    "updateRep": (
        f'mutation {{ updateRep(input: {{repId: "{MISSING_REP}", capacity: 1}}) '
        "{ userErrors { code } } }"
    ),
    "deactivateRep": (
        f'mutation {{ deactivateRep(input: {{repId: "{MISSING_REP}"}}) '
        "{ userErrors { code } } }"
    ),
    "addRepAbsence": (
        f'mutation {{ addRepAbsence(input: {{repId: "{MISSING_REP}", '
        'startsAt: "2030-01-01T00:00:00Z", endsAt: "2030-01-02T00:00:00Z"}) '
        "{ userErrors { code } } }"
    ),
    "removeRepAbsence": (
        'mutation { removeRepAbsence(input: {absenceId: "UmVwQWJzZW5jZTo5OTk5OTk="}) '
        "{ userErrors { code } } }"
    ),
    "setRepWorkingTime": (
        f'mutation {{ setRepWorkingTime(input: {{repId: "{MISSING_REP}"}}) '
        "{ userErrors { code } } }"
    ),
    "campaigns": "{ campaigns(first: 1) { totalCount } }",
    "createCampaign": (
        'mutation { createCampaign(input: {key: "Bad Key", name: "x", channel: "paid"}) '
        "{ userErrors { code } } }"
    ),
    "updateCampaign": (
        f'mutation {{ updateCampaign(input: {{campaignId: "{MISSING_CAMPAIGN}", name: "x"}}) '
        "{ userErrors { code } } }"
    ),
    "closeCampaign": (
        f'mutation {{ closeCampaign(input: {{campaignId: "{MISSING_CAMPAIGN}"}}) '
        "{ userErrors { code } } }"
    ),
    "addCampaignCost": (
        f'mutation {{ addCampaignCost(input: {{campaignId: "{MISSING_CAMPAIGN}", amount: "1", '
        'incurredOn: "2026-01-01"}) { userErrors { code } } }'
    ),
    "accounts": "{ accounts(first: 1) { totalCount edges { node { id } } } }",
    "apiKeys": "{ apiKeys(first: 1) { totalCount edges { node { id lastUsedAt } } } }",
    "auditEntries": "{ auditEntries(first: 1) { totalCount } }",
    "exportLead": (
        f'mutation {{ exportLead(input: {{leadId: "{MISSING_LEAD}"}}) '
        "{ userErrors { code } } }"
    ),
    "eraseLead": (
        f'mutation {{ eraseLead(input: {{leadId: "{MISSING_LEAD}", reason: "x"}}) '
        "{ userErrors { code } } }"
    ),
    "setGoal": (
        'mutation { setGoal(input: {metric: "nope", periodKind: MONTH, periodStart: "2026-01-01",'
        ' target: "1", team: MARKETING}) { userErrors { code } } }'
    ),
    # webhooks (issue 15)
    "webhookEventTypes": "{ webhookEventTypes { name } }",
    "webhookEndpoints": "{ webhookEndpoints { url } }",
    "webhookDeliveries": (
        f'{{ webhookDeliveries(endpointId: "{MISSING_ENDPOINT}") {{ edges {{ cursor }} }} }}'
    ),
    "createWebhookEndpoint": (
        'mutation { createWebhookEndpoint(input: {url: "nope"}) { userErrors { code } } }'
    ),
    "updateWebhookEndpoint": (
        f'mutation {{ updateWebhookEndpoint(input: {{id: "{MISSING_ENDPOINT}"}}) '
        "{ userErrors { code } } }"
    ),
    "deleteWebhookEndpoint": (
        f'mutation {{ deleteWebhookEndpoint(id: "{MISSING_ENDPOINT}") '
        "{ userErrors { code } } }"
    ),
    "redeliverWebhook": (
        f'mutation {{ redeliverWebhook(deliveryId: "{MISSING_DELIVERY}") '
        "{ userErrors { code } } }"
    ),
    "rulebookVersions": "{ rulebookVersions(first: 1) { totalCount } }",
    "publishRulebook": (
        'mutation { publishRulebook(input: {files: [], note: "x"}) { userErrors { code } } }'
    ),
    "activateRulebook": (
        'mutation { activateRulebook(input: {version: "nope"}) { userErrors { code } } }'
    ),
    "bulkJob": f'{{ bulkJob(id: "{MISSING_JOB}") {{ id }} }}',
    "bulkJobs": "{ bulkJobs(first: 1) { totalCount } }",
    "shadowReport": "{ shadowReport { counts { kind count } } }",
    "fairnessReport": '{ fairnessReport(route: "route_na_enterprise") { periodStart } }',
    "startShadow": 'mutation { startShadow(input: {version: "nope"}) { userErrors { code } } }',
    "stopShadow": "mutation { stopShadow { userErrors { code } } }",
    "simulateRulebook": (
        "{ simulateRulebook(input: {files: [], samples: 99}) { userErrors { code } } }"
    ),
}


def root_field_names(app: Starlette, *, subscriptions: bool) -> set[str]:
    """Root fields of the schema the app serves (a strawberry schema is built once)."""
    [route] = [r for r in app.routes if isinstance(r, Route) and r.path == "/graphql"]
    schema = route.endpoint.schema._schema  # type: ignore[attr-defined]
    roots = (
        [schema.subscription_type] if subscriptions else [schema.query_type, schema.mutation_type]
    )
    return {name for root in roots if root is not None for name in root.fields}


def test_every_root_field_has_a_policy_and_a_matrix_operation(app: Starlette) -> None:
    http_fields = root_field_names(app, subscriptions=False)
    fields = http_fields | root_field_names(app, subscriptions=True)
    assert fields - set(POLICY) == set(), "new root fields need a POLICY entry"
    assert set(POLICY) - fields == set(), "POLICY names fields the schema does not have"
    assert set(OPERATIONS) == http_fields, "the role matrix must try every root field"


@pytest.mark.parametrize("field", sorted(OPERATIONS))
@pytest.mark.parametrize("role", list(Role))
async def test_role_matrix(gql_as: GqlFactory, role: Role, field: str) -> None:
    client = await gql_as(role)
    body = await client(OPERATIONS[field])
    codes = [e.get("extensions", {}).get("code") for e in body.get("errors", [])]
    if role in POLICY[field]:
        assert "permission_denied" not in codes, body
        assert body.get("data") is not None, body
    else:
        assert codes == ["permission_denied"], body
        assert body["data"] is None
        assert f"role {role} may not use {field}" in body["errors"][0]["message"]


async def test_fragments_at_the_root_cannot_smuggle_a_mutation(gql_as: GqlFactory) -> None:
    viewer = await gql_as(Role.VIEWER)
    body = await viewer(
        'mutation { ...m } fragment m on Mutation { createApiKey(input: {name: "x", '
        "role: ADMIN}) { token } }"
    )
    assert body["errors"][0]["extensions"]["code"] == "permission_denied"


async def test_requests_without_a_valid_key_are_refused_clearly(
    client: object, gql: GraphQLClient
) -> None:
    anonymous = GraphQLClient(gql.http)
    response = await gql.http.post("/graphql", json={"query": "{ viewer { role } }"})
    assert response.status_code == 401
    body = await anonymous("{ viewer { role } }")
    assert body["errors"][0]["extensions"]["code"] == "unauthenticated"
    assert "missing API key" in body["errors"][0]["message"]
    forged = GraphQLClient(gql.http, "lg_deadbeef_not-the-secret")
    body = await forged("{ viewer { role } }")
    assert "unknown API key" in body["errors"][0]["message"]
    malformed = GraphQLClient(gql.http, "hunter2")
    assert "malformed API key" in (await malformed("{ viewer { role } }"))["errors"][0]["message"]


async def test_created_key_works_once_and_stops_after_revoke(gql: GraphQLClient) -> None:
    created = await gql(
        'mutation { createApiKey(input: {name: "crm", role: INTEGRATION}) '
        "{ token apiKey { prefix role } userErrors { code } } }"
    )
    payload = created["data"]["createApiKey"]
    token, prefix = payload["token"], payload["apiKey"]["prefix"]
    assert token.startswith(f"lg_{prefix}_")
    crm = GraphQLClient(gql.http, token)
    assert (await crm("{ viewer { role name } }"))["data"]["viewer"] == {
        "role": "INTEGRATION",
        "name": "crm",
    }
    listed = await gql(f'mutation {{ revokeApiKey(input: {{prefix: "{prefix}"}}) '
                       "{ apiKey { revokedAt } } }")  # fmt: skip
    assert listed["data"]["revokeApiKey"]["apiKey"]["revokedAt"] is not None
    refused = await crm("{ viewer { role } }")
    assert "revoked" in refused["errors"][0]["message"]
