"""The leads list page: relations read up front in a fixed, small number of statements, lean
evaluation columns once a headline is known, and the same headlines as the record's own report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from api.models import Lead
from tests.conftest import GraphQLClient, SqlCounter
from tests.schema.test_leads import _bulk_leads

PAGE = """
query($first: Int) {
  leads(first: $first) {
    edges { node { id email stage account { name segment } owner { name }
                   latestEvaluation { id report { headline } } } }
  }
}"""
RECORD = "query($id: ID!) { evaluation(id: $id) { report { headline } } }"
UPSERT = """
mutation($input: UpsertLeadInput!) { upsertLead(input: $input) { userErrors { code } } }"""
RECORD_ACTIVITIES = """
mutation($input: RecordActivitiesInput!) {
  recordActivities(input: $input) {
    evaluations { stageBefore stageAfter report { headline } } userErrors { code }
  }
}"""
ERASE = """
mutation($input: EraseLeadInput!) { eraseLead(input: $input) { userErrors { code } } }"""


def _reads(counter: SqlCounter) -> list[str]:
    """The page's own statements: not the API key look-up every request makes."""
    return [s for s in counter.statements if "api_key" not in s]


async def test_a_page_reads_leads_with_their_relations_then_their_records(
    gql: GraphQLClient, sql_counter: SqlCounter
) -> None:
    await _bulk_leads(60)
    await gql("{ viewer { role } }")  # the key's first use records lastUsedAt (once a minute)
    await gql(PAGE, first=1)  # loads the rulebook version "why not" replays on, once
    sql_counter.reset()
    first = await gql(PAGE, first=50)
    cold = _reads(sql_counter)
    sql_counter.reset()
    again = await gql(PAGE, first=50)
    warm = _reads(sql_counter)
    assert again == first
    edges = first["data"]["leads"]["edges"]
    assert len(edges) == 50
    assert all(e["node"]["account"] and e["node"]["owner"]["name"] == "Rep" for e in edges)
    # leads joined with accounts and owners; the lean records; whole records for new headlines
    assert len(cold) == 3, cold
    assert 'JOIN "account"' in cold[0]
    assert 'JOIN "sales_rep"' in cold[0]
    assert '"input"' not in cold[1]
    assert '"input"' in cold[2]
    # seen before: every headline is known, no stored input is read
    assert len(warm) == 2, warm
    assert '"input"' not in warm[1]


async def test_list_headlines_equal_the_records_own_reports(gql: GraphQLClient) -> None:
    for i in range(3):
        body = await gql(UPSERT, input={"email": f"p{i}@acme.com", "title": "VP Marketing"})
        assert body["data"]["upsertLead"]["userErrors"] == []
    for _ in range(2):  # computed, then from the cache
        page = (await gql(PAGE, first=10))["data"]["leads"]["edges"]
        assert len(page) == 3
        for edge in page:
            record = edge["node"]["latestEvaluation"]
            own = await gql(RECORD, id=record["id"])
            assert own["data"]["evaluation"]["report"] == record["report"]


async def test_an_erased_leads_headline_is_computed_again(
    gql: GraphQLClient, sql_counter: SqlCounter
) -> None:
    body = await gql(UPSERT, input={"email": "gone@acme.com", "firstName": "Zed"})
    assert body["data"]["upsertLead"]["userErrors"] == []
    await gql(PAGE, first=5)
    lead_id = (await gql(PAGE, first=5))["data"]["leads"]["edges"][0]["node"]["id"]
    erased = await gql(ERASE, input={"leadId": lead_id, "reason": "GDPR request"})
    assert erased["data"]["eraseLead"]["userErrors"] == []
    assert await Lead.filter(erased_at__isnull=False).count() == 1
    sql_counter.reset()
    await gql(PAGE, first=5)
    assert any('"input"' in s for s in _reads(sql_counter))  # the scrubbed record, replayed


async def test_leads_reached_one_by_one_still_load_their_relations(gql: GraphQLClient) -> None:
    await _bulk_leads(3)
    page = (await gql(PAGE, first=3))["data"]["leads"]["edges"]
    one = """
    query($id: ID!) {
      lead(id: $id) { account { name segment } owner { name }
                      latestEvaluation { id report { headline } } }
    }"""
    for edge in page:
        node = edge["node"]
        alone = (await gql(one, id=node["id"]))["data"]["lead"]
        assert alone == {k: node[k] for k in ("account", "owner", "latestEvaluation")}


async def test_fields_selected_through_fragments_are_read(gql: GraphQLClient) -> None:
    await _bulk_leads(3)
    plain = """
    { leads(first: 3) { edges { node { email fitScore createdAt
        account { domain } owner { name territory } latestEvaluation { stageAfter } } } } }"""
    fragments = """
    fragment Who on Lead { email account { ... on Account { domain } } }
    fragment Rep on SalesRep { name territory }
    { leads(first: 3) { edges { node { ...Who ... on Lead { fitScore createdAt }
        owner { ...Rep } latestEvaluation { ... on Evaluation { stageAfter } } } } } }"""
    expected = await gql(plain)
    assert all(e["node"]["email"] for e in expected["data"]["leads"]["edges"])
    assert await gql(fragments) == expected


async def test_a_lead_moved_short_of_the_handoff_stage_hears_what_it_misses(
    gql: GraphQLClient,
) -> None:
    """new → engaged is a move, yet still not MQL: its headline names the closest MQL rule
    with the conditions that failed, never an empty "()"."""
    body = await gql(UPSERT, input={"email": "carla@midco.com", "title": "Marketing Manager"})
    assert body["data"]["upsertLead"]["userErrors"] == []
    lead_id = (await gql(PAGE, first=1))["data"]["leads"]["edges"][0]["node"]["id"]
    now = datetime.now(UTC)
    views = [
        {"leadId": lead_id, "type": kind, "occurredAt": (now - timedelta(hours=h)).isoformat(),
         "externalId": f"a{h}"}
        for h, kind in enumerate(["content_download", "page_view"], 1)
    ]  # fmt: skip
    done = await gql(RECORD_ACTIVITIES, input={"activities": views})
    [evaluation] = done["data"]["recordActivities"]["evaluations"]
    assert (evaluation["stageBefore"], evaluation["stageAfter"]) == ("NEW", "ENGAGED")
    listed = (await gql(PAGE, first=1))["data"]["leads"]["edges"][0]["node"]
    shown = listed["latestEvaluation"]["report"]["headline"]
    for line in (evaluation["report"]["headline"], shown):
        assert line.startswith("Not mql yet: closest is rule "), line
        assert "()" not in line
        assert "fit" in line  # the failed condition, in words
