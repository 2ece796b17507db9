"""(#12) The near-miss report through HTTP: `report { gap { … } }` on dry runs and stored
evaluations; following its advice qualifies the lead."""

from __future__ import annotations

from typing import Any

from api.models import SalesRep
from tests.conftest import GraphQLClient
from tests.schema.test_qualification import RECORD, activity, create_vp, reps  # noqa: F401

GAP = """
  headline
  gap {
    headline status handoffStage disqualified whyOwner whyDeadline
    whyNotQualified {
      rule applies summary
      failed { condition message score shortBy activity }
      closers { activity rule message signals gains { score points } }
    }
    decay { rule score threshold at message }
  }
"""

DRY = """
mutation($input: EvaluateLeadInput!) {
  evaluateLead(input: $input) { report { GAP } userErrors { code message } }
}""".replace("GAP", GAP)

LATEST = """
query($id: ID!) { node(id: $id) { ... on Lead { stage latestEvaluation { report { GAP } } } } }
""".replace("GAP", GAP)


async def test_gap_names_the_closest_rule_and_the_activity_that_qualifies(
    gql: GraphQLClient,
    reps: dict[str, SalesRep],  # noqa: F811
) -> None:
    lead = await create_vp(gql)
    body = await gql(DRY, input={"leadId": lead["id"], "dryRun": True})
    report: dict[str, Any] = body["data"]["evaluateLead"]["report"]
    gap = report["gap"]
    assert gap["status"] == "not_qualified"
    assert gap["handoffStage"] == "mql"
    closest = gap["whyNotQualified"][0]
    # The list-page headline names the closest rule; the full report adds what closes it.
    assert report["headline"].startswith(f"Not mql yet: closest is rule {closest['rule']} (")
    assert gap["headline"].startswith(report["headline"] + "; a ")
    assert gap["headline"].endswith(f"would qualify this lead by rule {closest['rule']}")
    rules = {g["rule"]: g for g in gap["whyNotQualified"]}
    engagement = next(f for f in rules["mql_fit_and_engagement"]["failed"] if f["score"])
    assert engagement["message"].startswith("engagement 0, needs 30: 30 points short")
    assert engagement["shortBy"] == 30
    demo = rules["mql_demo_request"]
    assert [f["message"] for f in demo["failed"]] == ["no demo_request in the last 30 days"]
    closer = next(c for c in demo["closers"] if c["activity"] == "demo_request")
    assert closer["message"].startswith("a demo_request (+")
    assert closer["message"].endswith("would qualify this lead by rule mql_demo_request")
    assert {g["score"] for g in closer["gains"]} == {"engagement"}
    assert "eng_demo_request" in closer["signals"]
    assert gap["whyOwner"].startswith("no owner: ")
    assert gap["whyDeadline"].startswith("no deadline: ")

    # Following the advice through the public surface qualifies the lead.
    await gql(RECORD, input={"activities": [activity(lead["id"], "demo_request", "nm-1")]})
    after = (await gql(LATEST, id=lead["id"]))["data"]["node"]
    assert after["stage"] == "MQL"
    stored = after["latestEvaluation"]["report"]["gap"]
    assert stored["status"] == "qualified"
    assert stored["headline"].startswith("Moved new → mql by rule ")
    assert stored["whyNotQualified"] == []
    assert stored["whyOwner"].startswith("owner ")
    assert "due " in stored["whyDeadline"]
