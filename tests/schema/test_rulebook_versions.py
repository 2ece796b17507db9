"""Publishing, listing and rolling back rulebook versions through GraphQL over HTTP."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from api.enums import Role
from api.live import LiveEngine
from api.models import RulebookActivation, RulebookVersion
from tests.api.rulebook_data import demo_files, parsing_threads, typo_line
from tests.conftest import GqlFactory, GraphQLClient

PUBLISH = """
mutation($input: PublishRulebookInput!) {
  publishRulebook(input: $input) {
    rulebookVersion { id version active note publishedBy files { path content } }
    created
    job { id kind status total rulebookVersion }
    userErrors { code message field suggestion }
  }
}"""

ACTIVATE = """
mutation($version: String!) {
  activateRulebook(input: {version: $version}) {
    rulebookVersion { version active }
    job { id kind rulebookVersion }
    userErrors { code message field }
  }
}"""

VERSIONS = """{ rulebookVersions { totalCount edges { node {
  version active note publishedBy
  activations { totalCount edges { node { activatedBy previousVersion note } } }
} } } }"""
JOBS = """query($after: String) { bulkJobs(first: 1, after: $after) {
  totalCount pageInfo { hasNextPage endCursor } edges { node { kind rulebookVersion total } }
} }"""


def files_input(files: dict[str, str]) -> list[dict[str, str]]:
    return [{"path": path, "content": text} for path, text in files.items()]


async def publish(gql: GraphQLClient, files: dict[str, str], note: str) -> dict[str, Any]:
    body = await gql(PUBLISH, input={"files": files_input(files), "note": note})
    payload: dict[str, Any] = body["data"]["publishRulebook"]
    return payload


async def served_version(gql: GraphQLClient, wanted: str, within_s: float = 15.0) -> str:
    """The version `rulebook` answers with, once it is ``wanted`` (or the timeout)."""
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        version: str = (await gql("{ rulebook { version } }"))["data"]["rulebook"]["version"]
        if version == wanted or asyncio.get_running_loop().time() > deadline:
            return version
        await asyncio.sleep(0.2)


async def test_publish_stores_activates_and_the_server_swaps_without_restart(
    gql_as: GqlFactory, live_restored: LiveEngine
) -> None:
    revops = await gql_as(Role.REVOPS)
    first = await publish(revops, demo_files(), "baseline")
    assert first["userErrors"] == []
    assert first["created"] is True
    baseline = first["rulebookVersion"]
    assert baseline["active"] is True
    assert baseline["note"] == "baseline"
    assert baseline["publishedBy"] == "revops:test-revops"
    assert {f["path"] for f in baseline["files"]} == set(demo_files())
    assert first["job"]["kind"] == "activate"

    change = await publish(revops, demo_files(engagement=20), "engagement gate 30 → 20")
    new = change["rulebookVersion"]["version"]
    assert new != baseline["version"]
    assert await served_version(revops, new) == new  # the live server follows the pointer

    again = await publish(revops, demo_files(engagement=20), "same content")
    assert (again["created"], again["job"]) == (False, None)  # versions are content hashes
    versions = (await revops(VERSIONS))["data"]["rulebookVersions"]
    assert versions["totalCount"] == 2
    listed = [edge["node"] for edge in versions["edges"]]
    assert [(v["version"], v["active"]) for v in listed] == [
        (new, True),
        (baseline["version"], False),
    ]
    assert listed[0]["note"] == "engagement gate 30 → 20"  # immutable: the first note stays
    assert listed[0]["activations"] == {
        "totalCount": 1,
        "edges": [
            {
                "node": {
                    "activatedBy": "revops:test-revops",
                    "previousVersion": baseline["version"],
                    "note": "engagement gate 30 → 20",
                }
            }
        ],
    }

    rollback = (await revops(ACTIVATE, version=baseline["version"][:8]))["data"]
    assert rollback["activateRulebook"]["userErrors"] == []
    assert rollback["activateRulebook"]["rulebookVersion"] == {
        "version": baseline["version"],
        "active": True,
    }
    assert rollback["activateRulebook"]["job"]["rulebookVersion"] == baseline["version"]
    assert await served_version(revops, baseline["version"]) == baseline["version"]
    assert await RulebookVersion.filter(active=True).count() == 1
    versions = (await revops(VERSIONS))["data"]["rulebookVersions"]
    [old] = [e["node"] for e in versions["edges"] if e["node"]["version"] == baseline["version"]]
    assert [a["node"]["previousVersion"] for a in old["activations"]["edges"]] == [None, new]
    jobs = (await revops(JOBS))["data"]["bulkJobs"]
    assert jobs["totalCount"] == 3  # publish, publish, rollback: one re-evaluation each
    assert jobs["edges"][0]["node"]["rulebookVersion"] == baseline["version"]  # newest first
    assert jobs["pageInfo"]["hasNextPage"] is True
    after = jobs["pageInfo"]["endCursor"]
    second = (await revops(JOBS, after=after))["data"]["bulkJobs"]
    assert second["edges"][0]["node"]["rulebookVersion"] == new
    history = (
        await RulebookActivation.all().order_by("id").values_list("version", "previous_version")
    )
    assert history == [
        (baseline["version"], None),
        (new, baseline["version"]),
        (baseline["version"], new),
    ]


async def test_an_invalid_rulebook_is_refused_with_its_location_and_changes_nothing(
    gql: GraphQLClient, live_restored: LiveEngine
) -> None:
    good = await publish(gql, demo_files(), "baseline")
    bad = await publish(gql, demo_files(typo=True), "typo")
    assert bad["rulebookVersion"] is None
    errors = bad["userErrors"]
    assert errors
    assert all(e["code"] == "invalid_rulebook" for e in errors)
    assert errors[0]["field"] == ["input", "files", "lifecycle.yaml"]
    assert errors[0]["message"].startswith(f"lifecycle.yaml:{typo_line()}:")
    assert "unknown stage `mqlx`" in errors[0]["message"]
    assert await RulebookVersion.all().count() == 1
    active = await RulebookVersion.get(active=True)
    assert active.version == good["rulebookVersion"]["version"]


async def test_a_stage_the_database_does_not_know_is_refused_where_it_is_declared(
    gql: GraphQLClient, live_restored: LiveEngine
) -> None:
    files = demo_files()
    files["lifecycle.yaml"] = (
        files["lifecycle.yaml"]
        .replace("side: [recycled, disqualified]", "side: [recycled, disqualified, parked]")
        .replace("manual: [sal,", "manual: [parked, sal,")
    )
    bad = await publish(gql, files, "a stage of our own")
    assert bad["rulebookVersion"] is None
    [error] = bad["userErrors"]
    assert error["code"] == "invalid_rulebook"
    assert error["field"] == ["input", "files", "lifecycle.yaml"]
    assert "stages parked are not lifecycle stages" in error["message"]
    assert await RulebookVersion.all().count() == 0


async def test_publishing_validates_off_the_event_loop(
    gql_as: GqlFactory, live_restored: LiveEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Validating a large rulebook takes seconds: requests in flight must not wait for it."""
    checked_on = parsing_threads(monkeypatch)
    revops = await gql_as(Role.REVOPS)
    published = await publish(revops, demo_files(engagement=25), "off the loop")
    assert published["userErrors"] == []
    assert checked_on, "the rulebook was not validated"
    assert threading.get_ident() not in checked_on


async def test_bad_input_names_the_field(gql: GraphQLClient, live_restored: LiveEngine) -> None:
    body = await gql(
        PUBLISH,
        input={"files": [{"path": "../etc/x.yaml", "content": "a: 1"}], "note": "x"},
    )
    [error] = body["data"]["publishRulebook"]["userErrors"]
    assert error["field"] == ["input", "files", "0", "path"]
    for version, code in (("abc", "invalid_input"), ("ffffffffff", "not_found")):
        [error] = (await gql(ACTIVATE, version=version))["data"]["activateRulebook"]["userErrors"]
        assert (error["code"], error["field"]) == (code, ["input", "version"])


async def test_only_revops_and_admin_manage_rulebooks(gql_as: GqlFactory) -> None:
    marketing = await gql_as(Role.MARKETING)
    body = await marketing(PUBLISH, input={"files": files_input(demo_files()), "note": "x"})
    assert body["errors"][0]["extensions"]["code"] == "permission_denied"
    assert await RulebookVersion.all().count() == 0
