"""Shared fixtures: a throw-away database per test run (SQLite, or PostgreSQL when
``LEADGATE_TEST_DATABASE_URL`` is set), migrated once, emptied after every test."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, Protocol

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager
from starlette.applications import Starlette
from tortoise import Tortoise

from api.app import create_app
from api.auth import create_api_key
from api.engine import RulesEngine
from api.enums import JobStatus, Role
from api.live import LiveEngine
from api.migrate import migrate_database
from api.models import BulkJob, RulebookActivation, RulebookVersion
from api.settings import DEMO_RULES_DIR, Settings

ADMIN_URL = os.environ.get("LEADGATE_TEST_DATABASE_URL", "")
ON_POSTGRES = ADMIN_URL.startswith(("postgres://", "postgresql://"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if ON_POSTGRES:
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL: set LEADGATE_TEST_DATABASE_URL")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1)


@pytest.fixture(scope="session")
async def database_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """A database nobody else uses, dropped at the end: tests never touch a developer's data."""
    if not ON_POSTGRES:
        path: Path = tmp_path_factory.mktemp("db") / "leadgate-test.sqlite3"
        yield f"sqlite://{path}"
        return
    name = f"leadgate_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(_asyncpg_dsn(ADMIN_URL))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        base, _, _ = ADMIN_URL.rpartition("/")
        yield f"{base}/{name}"
        await Tortoise.close_connections()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def wall_clock_rules(folder: Path) -> Path:
    """The demo rulebook without its territory working hours (issue 16), in ``folder``.

    The app tests run at the real time of day, and the demo's working hours would make their
    routing depend on it (nobody in NA at 03:00 New York time). Without them every rep is
    available around the clock and the business clock equals the wall clock; tests of working
    time give reps their own calendars, or install the full demo rulebook.
    """
    folder.mkdir(parents=True, exist_ok=True)
    for path in sorted(DEMO_RULES_DIR.glob("*.yaml")):
        if path.name != "working_time.yaml":
            (folder / path.name).write_bytes(path.read_bytes())
    return folder


@pytest.fixture(scope="session")
def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    # Clock ticks (SLA check, due re-scoring) would add statements to the tests that count
    # them; tests call the ticks themselves. Webhook tests run their own dispatcher.
    return Settings(
        database_url=database_url,
        rules_dir=wall_clock_rules(tmp_path_factory.mktemp("rules")),
        dev=False,
        sla_check_interval_s=3600,
        rescore_interval_s=3600,
        webhook_dispatch=False,
        _env_file=None,
    )


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[Starlette]:
    await migrate_database(settings.database_url)
    application = create_app(settings)
    async with LifespanManager(application, startup_timeout=120, shutdown_timeout=60):
        yield application


@pytest.fixture
async def fresh_database_url(tmp_path: Path) -> AsyncIterator[str]:
    """A migrated database of its own (SQLite file or PostgreSQL database), for tests whose
    subprocesses must not share the session app's rulebook pointer or job runner."""
    if not ON_POSTGRES:
        url = f"sqlite://{tmp_path / 'own.sqlite3'}"
    else:
        name = f"leadgate_own_{uuid.uuid4().hex[:12]}"
        admin = await asyncpg.connect(_asyncpg_dsn(ADMIN_URL))
        await admin.execute(f'CREATE DATABASE "{name}"')
        await admin.close()
        url = f"{ADMIN_URL.rpartition('/')[0]}/{name}"
    migrated = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "api.cli",
        "db",
        "migrate",
        env={**os.environ, "LEADGATE_DATABASE_URL": url},
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await migrated.communicate()
    assert migrated.returncode == 0, err.decode()
    yield url
    if ON_POSTGRES:
        admin = await asyncpg.connect(_asyncpg_dsn(ADMIN_URL))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{url.rpartition("/")[2]}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture
async def live_restored(app: Starlette) -> AsyncIterator[LiveEngine]:
    """The session app's live engine, put back on the demo rulebook after the test."""
    live: LiveEngine = app.state.live
    demo = live.current.rulebook
    await RulebookVersion.all().delete()  # the first test of a run sees startup's rows
    await RulebookActivation.all().delete()
    yield live
    await RulebookVersion.filter(active=True).update(active=False)  # stop the pointer first
    await BulkJob.all().update(status=JobStatus.CANCELLED)
    if live.version != demo.version:
        live.install(RulesEngine(demo, workers=1))


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://leadgate.test") as c:
        yield c


TABLES = (
    "handoff_step", "routing_share",  # issue 16 (distribution)
    "webhook_attempt", "webhook_delivery", "webhook_endpoint", "webhook_cursor",
    "ingested_message",  # issue 15
    "audit_entry", "campaign_cost", "erasure_tombstone",
    "domain_event", "idempotency_record", "api_key", "goal", "targeting_adjustment",
    "feedback", "deal_stage_change", "deal", "lead_stage_change", "handoff", "evaluation",
    "activity", "lead", "rulebook_version", "sales_rep", "account", "campaign",
    "rulebook_activation", "bulk_job_chunk", "bulk_job", "shadow_disagreement", "shadow_run",
    "rep_absence",  # issue 16
)  # fmt: skip


@pytest.fixture(autouse=True)
async def _empty_tables(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Each test starts from empty tables (only for tests that use the database)."""
    yield
    if "app" not in request.fixturenames:
        return
    app: Starlette = request.getfixturevalue("app")
    await app.state.jobs.idle()  # background follow-ups of the test's mutations end with it
    conn = Tortoise.get_connection("default")
    if ON_POSTGRES:
        await conn.execute_script(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
    else:
        script = "".join(f"DELETE FROM {t};" for t in TABLES)
        await conn.execute_script(script + "DELETE FROM sqlite_sequence;")


class GraphQLClient:
    """Posts operations the way a frontend does and returns the decoded body."""

    def __init__(self, http: httpx.AsyncClient, token: str | None = None) -> None:
        self.http = http
        self.token = token

    async def __call__(self, query: str, **variables: Any) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        response = await self.http.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )
        body: dict[str, Any] = response.json()
        return body


class GqlFactory(Protocol):
    async def __call__(self, role: Role, rep_email: str | None = None) -> GraphQLClient: ...


@pytest.fixture
def gql_as(client: httpx.AsyncClient) -> GqlFactory:
    """A client holding a fresh API key of the given role."""

    async def make(role: Role, rep_email: str | None = None) -> GraphQLClient:
        _, token = await create_api_key(name=f"test-{role}", role=role, rep_email=rep_email)
        return GraphQLClient(client, token)

    return make


@pytest.fixture
async def gql(gql_as: GqlFactory) -> GraphQLClient:
    """An admin client: most tests are about behaviour, not permissions."""
    return await gql_as(Role.ADMIN)


class SqlCounter(logging.Handler):
    """Counts the SQL statements tortoise sends, from its debug log."""

    VERBS = ("SELECT", "INSERT", "UPDATE", "DELETE")
    # The app's background pollers (rulebook pointer, bulk jobs, shadow) run meanwhile.
    BACKGROUND = (
        'FROM "rulebook_version"',
        'FROM "bulk_job"',
        'FROM "bulk_job_chunk"',
        'FROM "shadow_run"',
    )

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.statements: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage().lstrip()
        if message.upper().startswith(self.VERBS) and not any(
            table in message for table in self.BACKGROUND
        ):
            self.statements.append(message)

    def reset(self) -> None:
        self.statements.clear()


@pytest.fixture
def sql_counter() -> Iterator[SqlCounter]:
    counter = SqlCounter()
    logger = logging.getLogger("tortoise.db_client")
    level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(counter)
    try:
        yield counter
    finally:
        logger.removeHandler(counter)
        logger.setLevel(level)
