"""Concurrency on PostgreSQL (#11): SLA expiry against sales decisions and reads, upserts that
must not lose a version, and identical activity batches that must be stored and reported once.

Setup rows are written straight to the database; every racing call goes through GraphQL over
HTTP (plus the SLA job, which runs on a clock, not through the API).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from strawberry import relay

from api.enums import HandoffStatus, LifecycleStage
from api.handoffs import expire_overdue
from api.models import Activity, DomainEvent, Evaluation, Handoff, Lead, SalesRep
from tests.conftest import GraphQLClient

HANDOFFS = "{ handoffs(first: 100) { edges { node { id status } } } }"
ACCEPT = """
mutation($id: ID!) {
  acceptHandoff(input: {handoffId: $id}) { handoff { status } userErrors { code message } }
}"""
REJECT = """
mutation($id: ID!) {
  rejectHandoff(input: {handoffId: $id, reason: "too_small"}) {
    handoff { status } userErrors { code message }
  }
}"""
UPSERT = """
mutation($input: UpsertLeadInput!) {
  upsertLead(input: $input) { lead { id title version } userErrors { code message } }
}"""
RECORD = """
mutation($input: RecordActivitiesInput!) {
  recordActivities(input: $input) {
    results { activityId duplicate error { code } } evaluations { id } userErrors { code }
  }
}"""


async def overdue_handoffs(n: int) -> list[str]:
    """``n`` MQLs, each with a pending handoff whose SLA deadline has passed; their global ids."""
    rep = await SalesRep.create(email="rep@leadgate.test", name="Rep", territory="NA", capacity=500)
    await Lead.bulk_create(
        [
            Lead(email=f"mql{i}@acme{i}.com", stage=LifecycleStage.MQL, owner_id=rep.id)
            for i in range(n)
        ]
    )
    leads = await Lead.all().order_by("id")
    late = datetime.now(UTC) - timedelta(minutes=5)
    await Handoff.bulk_create(
        [Handoff(lead_id=lead.id, owner_id=rep.id, sla_deadline=late) for lead in leads]
    )
    ids = [h.id for h in await Handoff.all().order_by("id")]
    return [str(relay.GlobalID("Handoff", str(i))) for i in ids]


def breaches() -> Any:
    return DomainEvent.filter(kind="sla_breached")


async def test_reads_show_overdue_handoffs_as_expired_without_writing(gql: GraphQLClient) -> None:
    await overdue_handoffs(3)
    body = await gql(HANDOFFS)
    assert {e["node"]["status"] for e in body["data"]["handoffs"]["edges"]} == {"EXPIRED"}
    expired = await gql("{ handoffs(status: EXPIRED) { edges { node { id } } } }")
    assert len(expired["data"]["handoffs"]["edges"]) == 3
    pending = await gql("{ handoffs(status: PENDING) { edges { node { id } } } }")
    assert pending["data"]["handoffs"]["edges"] == []
    # The read wrote nothing: the SLA job does, once.
    assert await Handoff.filter(status=HandoffStatus.PENDING).count() == 3
    assert await breaches().count() == 0
    assert await expire_overdue() == 3
    assert await expire_overdue() == 0
    assert await breaches().count() == 3


@pytest.mark.postgres
async def test_sla_expiry_never_overwrites_a_concurrent_accept(gql: GraphQLClient) -> None:
    ids = await overdue_handoffs(30)
    calls = [gql(ACCEPT, id=i) for i in ids]
    calls += [gql(HANDOFFS) for _ in range(20)]
    jobs = [expire_overdue() for _ in range(5)]
    bodies = await asyncio.gather(*calls, *jobs)
    accepts = bodies[: len(ids)]
    assert all(b["data"]["acceptHandoff"]["userErrors"] == [] for b in accepts)
    # Every acknowledged accept stuck: no handoff went back to expired, every lead is SAL.
    assert await Handoff.filter(status=HandoffStatus.ACCEPTED).count() == len(ids)
    assert await Lead.filter(stage=LifecycleStage.SAL).count() == len(ids)
    per_handoff = Counter(e.payload["handoff"] for e in await breaches())
    assert all(n == 1 for n in per_handoff.values()), per_handoff
    # An accepted handoff cannot be rejected afterwards (it was, after being re-expired).
    rejects = await asyncio.gather(*(gql(REJECT, id=i) for i in ids))
    assert all(r["data"]["rejectHandoff"]["userErrors"][0]["code"] == "conflict" for r in rejects)
    assert await Lead.filter(stage=LifecycleStage.SAL).count() == len(ids)


@pytest.mark.postgres
async def test_concurrent_reads_and_sla_jobs_write_one_breach_per_handoff(
    gql: GraphQLClient,
) -> None:
    await overdue_handoffs(20)
    results = await asyncio.gather(
        *(gql(HANDOFFS) for _ in range(60)), *(expire_overdue() for _ in range(5))
    )
    assert sum(r for r in results if isinstance(r, int)) == 20
    assert await breaches().count() == 20
    assert await Handoff.filter(status=HandoffStatus.EXPIRED).count() == 20


@pytest.mark.postgres
async def test_concurrent_upserts_lose_no_version(gql: GraphQLClient) -> None:
    first = await gql(UPSERT, input={"email": "race@acme.com", "title": "Engineer"})
    start = first["data"]["upsertLead"]["lead"]["version"]
    n = 50
    bodies = await asyncio.gather(
        *(gql(UPSERT, input={"email": "race@acme.com", "title": f"Engineer {i}"}) for i in range(n))
    )
    assert all(b["data"]["upsertLead"]["userErrors"] == [] for b in bodies)
    lead = await Lead.get(email="race@acme.com")
    assert lead.version == start + n  # each distinct title is one increment
    titles_by_version: dict[int, set[str]] = {}
    for b in bodies:
        reply = b["data"]["upsertLead"]["lead"]
        titles_by_version.setdefault(reply["version"], set()).add(reply["title"])
    assert all(len(t) == 1 for t in titles_by_version.values()), titles_by_version


@pytest.mark.postgres
async def test_identical_activity_batches_in_parallel_are_new_once(gql: GraphQLClient) -> None:
    await Lead.bulk_create([Lead(email=f"p{i}@acme.com") for i in range(5)])
    lead_ids = [str(relay.GlobalID("Lead", str(i.id))) for i in await Lead.all().order_by("id")]
    when = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    batch = [
        {"leadId": lead, "type": "page_view", "occurredAt": when, "externalId": f"pv-{k}"}
        for k, lead in enumerate(lead_ids)
    ]
    bodies = await asyncio.gather(*(gql(RECORD, input={"activities": batch}) for _ in range(50)))
    results = [r for b in bodies for r in b["data"]["recordActivities"]["results"]]
    assert all(r["error"] is None for r in results)
    assert sum(not r["duplicate"] for r in results) == 5
    assert await Activity.all().count() == 5
    assert await Evaluation.all().count() == 5
    assert sum(len(b["data"]["recordActivities"]["evaluations"]) for b in bodies) == 5
