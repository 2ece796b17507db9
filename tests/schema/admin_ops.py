"""GraphQL documents of the admin surface, shared by its tests."""

from __future__ import annotations

from typing import Any

from tests.conftest import GraphQLClient

CREATE_REP = """
mutation($input: CreateRepInput!) {
  createRep(input: $input) {
    rep { id email name territory segments capacity active openHandoffs }
    userErrors { code message field suggestion }
  }
}"""
UPDATE_REP = """
mutation($input: UpdateRepInput!) {
  updateRep(input: $input) {
    rep { id territory segments capacity active }
    rerouted { handoffId newOwner { email } why }
    userErrors { code message field }
  }
}"""
DEACTIVATE_REP = """
mutation($input: DeactivateRepInput!) {
  deactivateRep(input: $input) {
    rep { id active openHandoffs }
    rerouted { handoffId newOwner { email } why }
    userErrors { code message field }
  }
}"""
REPS = """
query($active: Boolean, $first: Int, $after: String) {
  reps(active: $active, first: $first, after: $after) {
    totalCount
    edges { node { email active capacity openHandoffs } }
    pageInfo { hasNextPage endCursor }
  }
}"""
CREATE_CAMPAIGN = """
mutation($input: CreateCampaignInput!) {
  createCampaign(input: $input) {
    campaign { id key name channel startsOn endsOn budget cost currency closedAt leadCount }
    userErrors { code message field suggestion }
  }
}"""
ADD_COST = """
mutation($input: AddCampaignCostInput!) {
  addCampaignCost(input: $input) {
    cost { id amount incurredOn note createdBy }
    campaign { cost }
    userErrors { code message field }
  }
}"""
UPSERT = """
mutation($input: UpsertLeadInput!) {
  upsertLead(input: $input) {
    lead { id stage owner { email } }
    evaluation { report { routing { route repId } fired { name effect } } }
    userErrors { code message field }
  }
}"""
RECORD = """
mutation($input: RecordActivitiesInput!) {
  recordActivities(input: $input) {
    results { activityId error { code message } }
    evaluations { stageAfter report { routing { route repId why } fired { name effect } } }
    userErrors { code message }
  }
}"""


async def create_rep(gql: GraphQLClient, **fields: Any) -> dict[str, Any]:
    body = await gql(CREATE_REP, input=fields)
    payload = body["data"]["createRep"]
    assert payload["userErrors"] == [], body
    rep: dict[str, Any] = payload["rep"]
    return rep
