"""(#15, #10) Activating a rulebook version is an outbox event that webhooks send."""

from __future__ import annotations

from api.enums import Role
from api.live import LiveEngine
from api.webhooks.dispatcher import fan_out
from tests.api.rulebook_data import demo_files
from tests.conftest import GqlFactory
from tests.schema.test_rulebook_versions import publish
from tests.schema.test_webhooks import CREATE, DELIVERIES


async def test_a_published_rulebook_reaches_the_endpoints_that_asked_for_it(
    gql_as: GqlFactory, live_restored: LiveEngine
) -> None:
    admin = await gql_as(Role.ADMIN)
    wanted = (await admin(CREATE, input={"url": "http://127.0.0.1:9/hook",
                                         "events": ["rulebook.published"]}))  # fmt: skip
    other = await admin(CREATE, input={"url": "http://127.0.0.1:9/other", "events": ["deal.won"]})
    wanted_id = wanted["data"]["createWebhookEndpoint"]["endpoint"]["id"]
    other_id = other["data"]["createWebhookEndpoint"]["endpoint"]["id"]
    first = await publish(admin, demo_files(), "baseline")
    second = await publish(admin, demo_files(engagement=20), "engagement gate 30 → 20")
    assert first["userErrors"] == second["userErrors"] == []
    await fan_out()
    edges = (await admin(DELIVERIES, endpoint=wanted_id))["data"]["webhookDeliveries"]["edges"]
    payloads = [
        e["node"]["payload"] for e in edges if e["node"]["eventType"] == "rulebook.published"
    ]
    versions = sorted(p["data"]["rulebook"]["version"] for p in payloads)
    assert versions == sorted(
        [first["rulebookVersion"]["version"], second["rulebookVersion"]["version"]]
    )
    newest = next(
        p for p in payloads
        if p["data"]["rulebook"]["version"] == second["rulebookVersion"]["version"]
    )  # fmt: skip
    assert newest["data"]["changes"]["version"]["old"] == first["rulebookVersion"]["version"]
    assert (await admin(DELIVERIES, endpoint=other_id))["data"]["webhookDeliveries"]["edges"] == []
