"""Shadow rulebook through HTTP: a candidate that disagrees on a known set of leads reports
exactly those, applies nothing, and stops with one mutation."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from api.enums import LifecycleStage, Role
from api.live import LiveEngine
from api.models import Account, Lead, SalesRep
from api.rulebook_versions import publish_rulebook
from api.settings import Settings
from tests.api.own_db import leadgate, start
from tests.api.rulebook_data import demo_files
from tests.api.test_bulk import hot_leads
from tests.conftest import GqlFactory, GraphQLClient
from tests.schema.test_rulebook_versions import PUBLISH, files_input

HOT_DOMAINS = ("big0.com", "big1.com", "big2.com")
REPORT = """
{ shadowReport(samples: 50) {
    shadow { candidateVersion compared failed stoppedAt }
    counts { kind count }
    samples { kind live candidate lead { email stage } }
} }"""
START = """
mutation($v: String!) {
  startShadow(input: {version: $v}) { shadow { candidateVersion } userErrors { code field } }
}"""
EVALUATE = """
mutation($id: ID!) { evaluateLead(input: {leadId: $id}) { lead { stage } userErrors { code } } }
"""


def gid(lead_id: int) -> str:
    import base64

    return base64.b64encode(f"Lead:{lead_id}".encode()).decode()


async def report_after(gql: GraphQLClient, compared: int) -> dict[str, Any]:
    for _ in range(300):
        body: dict[str, Any] = (await gql(REPORT))["data"]["shadowReport"]
        if body["shadow"]["compared"] >= compared:
            return body
        await asyncio.sleep(0.2)
    raise AssertionError(f"shadow never caught up: {body}")


async def test_shadow_reports_exactly_the_leads_the_candidate_decides_differently(
    gql_as: GqlFactory, live_restored: LiveEngine
) -> None:
    revops = await gql_as(Role.REVOPS)
    await revops(PUBLISH, input={"files": files_input(demo_files()), "note": "live"})
    candidate = await revops(
        PUBLISH,
        input={
            "files": files_input(demo_files(competitors=HOT_DOMAINS)),
            "note": "the hot leads' companies are competitors now",
            "activate": False,
        },
    )
    version = candidate["data"]["publishRulebook"]["rulebookVersion"]["version"]
    started = (await revops(START, v=version[:10]))["data"]["startShadow"]
    assert started == {"shadow": {"candidateVersion": version}, "userErrors": []}
    again = (await revops(START, v=version))["data"]["startShadow"]["userErrors"]
    assert again == [{"code": "conflict", "field": ["input", "version"]}]

    await SalesRep.create(email="ana@x.test", name="Ana", territory="NA", segments=["enterprise"])
    hot = await hot_leads(3)  # MQL live; the candidate disqualifies them as competitors
    account = await Account.create(domain="small.com", employee_count=3)
    cold = [
        (await Lead.create(email=f"intern{i}@small.com", account_id=account.id)).id
        for i in range(3)
    ]
    for lead_id in hot + cold:
        body = await revops(EVALUATE, id=gid(lead_id))
        assert body["data"]["evaluateLead"]["userErrors"] == []
    assert await Lead.filter(id__in=hot, stage=LifecycleStage.MQL).count() == 3  # live applied

    report = await report_after(revops, compared=6)
    assert report["shadow"]["compared"] == 6
    assert report["shadow"]["failed"] == 0
    flagged = {s["lead"]["email"] for s in report["samples"]}
    assert flagged == {f"vp@big{i}.com" for i in range(3)}
    counts = {c["kind"]: c["count"] for c in report["counts"]}
    assert counts["stage"] == 3
    stage = next(s for s in report["samples"] if s["kind"] == "stage")
    assert stage["live"]["to_stage"] == "mql"
    assert stage["candidate"] == {"to_stage": "disqualified", "rule": "dq_competitor"}
    assert stage["lead"]["stage"] == "MQL"  # the candidate's decision was not applied

    stopped = await revops("mutation { stopShadow { shadow { stoppedAt } userErrors { code } } }")
    assert stopped["data"]["stopShadow"]["shadow"]["stoppedAt"] is not None
    await revops(EVALUATE, id=gid(hot[0]))
    await asyncio.sleep(1.5)
    after = (await revops(REPORT))["data"]["shadowReport"]
    assert after["shadow"]["compared"] == 6  # stopped: nothing more is compared


async def test_shadow_from_the_cli(
    gql: GraphQLClient, live_restored: LiveEngine, settings: Settings
) -> None:
    url = settings.database_url  # the session app's database: its runner does the comparing
    await publish_rulebook(
        files=encoded(demo_files()), note="live", published_by="test", activate=True
    )
    candidate = await publish_rulebook(
        files=encoded(demo_files(competitors=HOT_DOMAINS)),
        note="candidate",
        published_by="test",
        activate=False,
    )
    version = candidate.row.version
    out = await leadgate(url, "rules", "shadow", "start", version[:8])
    assert out.startswith(f"shadowing {version[:12]}")
    await SalesRep.create(email="ana@x.test", name="Ana", territory="NA", segments=["enterprise"])
    [hot] = await hot_leads(1)
    await gql(EVALUATE, id=gid(hot))
    await report_after(gql, compared=1)
    data = json.loads(await leadgate(url, "rules", "shadow", "report", "--json"))
    assert (data["running"], data["compared"], data["counts"]["stage"]) == (True, 1, 1)
    assert {s["lead_id"] for s in data["samples"]} == {hot}
    out = await leadgate(url, "rules", "shadow", "stop")
    assert out.startswith(f"stopped shadow of {version[:12]} after 1 evaluations")
    proc = await start(url, "rules", "shadow", "stop")
    _, err = await proc.communicate()
    assert proc.returncode == 1
    assert "no shadow is running" in err.decode()


def encoded(files: dict[str, str]) -> dict[str, bytes]:
    return {path: text.encode() for path, text in files.items()}
