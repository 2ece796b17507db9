"""Shared fixtures: a throw-away database per test run (SQLite, or PostgreSQL when
``LEADGATE_TEST_DATABASE_URL`` is set), migrated once, emptied after every test."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import closing
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
async def database_url(
    tmp_path_factory: pytest.TempPathFactory,
    _postgres_template: str,
    request: pytest.FixtureRequest,
) -> AsyncIterator[str]:
    """A database nobody else uses, dropped at the end: tests never touch a developer's data.

    A copy of the template `leadgate db migrate` made (migrated_sqlite, _postgres_template),
    which every full run makes anyway: migrating a second database in-process cost ~4 s of
    CPU per run; the app fixture's migrate then finds nothing to do."""
    if not ON_POSTGRES:
        template: Path = request.getfixturevalue("migrated_sqlite")
        path: Path = tmp_path_factory.mktemp("db") / "leadgate-test.sqlite3"
        yield f"sqlite://{copy_sqlite(template, path)}"
        return
    name = f"leadgate_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(_asyncpg_dsn(ADMIN_URL))
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{_postgres_template}"')
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


def _migrate_by_cli(url: str) -> None:
    """`leadgate db migrate`, as an operator runs it, on the database at ``url``."""
    migrated = subprocess.run(
        [sys.executable, "-m", "api.cli", "db", "migrate"],
        env={**os.environ, "LEADGATE_DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert migrated.returncode == 0, migrated.stderr


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once by the CLI; tests take copies (copy_sqlite), which is what a
    migration per test gave them, without starting a migrating process for each."""
    path = tmp_path_factory.mktemp("template") / "migrated.sqlite3"
    _migrate_by_cli(f"sqlite://{path}")
    return path


def copy_sqlite(template: Path, to: Path) -> Path:
    """A copy of a SQLite database through SQLite's backup API (consistent even with a WAL)."""
    with closing(sqlite3.connect(template)) as src, closing(sqlite3.connect(to)) as dst:
        src.backup(dst)
    return to


@pytest.fixture(scope="session")
async def _postgres_template() -> AsyncIterator[str]:
    """On PostgreSQL, a database migrated once by the CLI that fresh_database_url clones with
    CREATE DATABASE … TEMPLATE (a file copy, instead of migrating each one)."""
    if not ON_POSTGRES:
        yield ""
        return
    name = f"leadgate_tpl_{uuid.uuid4().hex[:12]}"
    await _admin(f'CREATE DATABASE "{name}"')
    try:
        await asyncio.to_thread(_migrate_by_cli, f"{ADMIN_URL.rpartition('/')[0]}/{name}")
        yield name
    finally:
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _admin(statement: str) -> None:
    admin = await asyncpg.connect(_asyncpg_dsn(ADMIN_URL))
    try:
        await admin.execute(statement)
    finally:
        await admin.close()


@pytest.fixture
async def fresh_database_url(
    tmp_path: Path, _postgres_template: str, request: pytest.FixtureRequest
) -> AsyncIterator[str]:
    """A migrated database of its own (SQLite file or PostgreSQL database), for tests whose
    subprocesses must not share the session app's rulebook pointer or job runner."""
    if not ON_POSTGRES:
        template: Path = request.getfixturevalue("migrated_sqlite")
        yield f"sqlite://{copy_sqlite(template, tmp_path / 'own.sqlite3')}"
        return
    name = f"leadgate_own_{uuid.uuid4().hex[:12]}"
    await _admin(f'CREATE DATABASE "{name}" TEMPLATE "{_postgres_template}"')
    yield f"{ADMIN_URL.rpartition('/')[0]}/{name}"
    await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


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
        live.install(live.current.with_rulebook(demo))


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
        await conn.execute_script(await _postgres_emptying(conn))
    else:
        script = "".join(f"DELETE FROM {t};" for t in TABLES)
        await conn.execute_script(script + "DELETE FROM sqlite_sequence;")


_PG_EMPTYING: list[str] = []  # the script, built once a run (the schema does not change)


async def _postgres_emptying(conn: Any) -> str:
    """DELETE in TABLES order (as on SQLite, whose foreign keys are enforced too) and restart
    the tables' id sequences: what TRUNCATE … RESTART IDENTITY CASCADE did, without TRUNCATE's
    per-table file swap, which cost several times more than the rest of a short test."""
    if not _PG_EMPTYING:
        rows = await conn.execute_query_dict(
            "SELECT s.oid::regclass::text AS name FROM pg_class s "
            "JOIN pg_depend d ON d.objid = s.oid AND d.classid = 'pg_class'::regclass "
            "JOIN pg_class t ON t.oid = d.refobjid AND d.refclassid = 'pg_class'::regclass "
            "WHERE s.relkind = 'S' AND d.deptype IN ('a', 'i') AND t.relname = ANY($1::text[]) "
            "ORDER BY 1",
            [list(TABLES)],
        )
        # The lock waits for in-flight writers (background pollers) as TRUNCATE's did.
        lock = f"BEGIN;LOCK TABLE {', '.join(TABLES)} IN ACCESS EXCLUSIVE MODE;"
        deletes = "".join(f"DELETE FROM {t};" for t in TABLES)
        restarts = "".join(f"ALTER SEQUENCE {r['name']} RESTART;" for r in rows)
        _PG_EMPTYING.append(f"{lock}{deletes}{restarts}COMMIT;")
    return _PG_EMPTYING[0]


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
