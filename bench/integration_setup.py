"""Shared by the benchmarks: throw-away databases and run statistics."""

from __future__ import annotations

import hashlib
import os
import statistics
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version
from pathlib import Path

import asyncpg

from api.migrate import migrate_database

BASE = os.environ.get("LEADGATE_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
MIGRATIONS = Path(__file__).resolve().parents[1] / "api" / "migrations"
TEMPLATE_PREFIX = "leadgate_bench_tpl_"


def _dsn(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1)


@asynccontextmanager
async def fresh_database(kind: str, name: str) -> AsyncIterator[str]:
    """A migrated, empty database (``postgres`` or ``sqlite``), dropped afterwards. ``name``
    gets a random suffix: two runs at once (CI jobs, developers) must not drop each other's."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite://{Path(folder) / 'bench.sqlite3'}"
            await migrate_database(url)
            yield url
        return
    server, _, _ = BASE.rpartition("/")
    name = f"{name}_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(_dsn(BASE))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await create_migrated(admin, name)
        yield f"{server}/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def _template_name() -> str:
    """The template's name says what it holds: the migrations' files and procrastinate's
    version (its schema is applied by ``migrate_database`` too)."""
    digest = hashlib.sha256(version("procrastinate").encode())
    for path in sorted(MIGRATIONS.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return f"{TEMPLATE_PREFIX}{digest.hexdigest()[:12]}"


async def create_migrated(admin: asyncpg.Connection, name: str) -> None:
    """CREATE DATABASE ``name``, migrated: a copy of a migrated template that stays on the
    server between runs. Migrating costs seconds of CPU per database (tortoise rebuilds its
    model state for every operation), a copy a fraction of one; CI's smokes each made one.
    The first run on a server (or after a migration changed) builds the template and drops
    the stale ones."""
    template = _template_name()
    found = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", template)
    if not found:
        building = f"{template}_{uuid.uuid4().hex[:6]}"
        await admin.execute(f'CREATE DATABASE "{building}"')
        try:
            await migrate_database(f"{BASE.rpartition('/')[0]}/{building}")
            await admin.execute(f'ALTER DATABASE "{building}" RENAME TO "{template}"')
        except asyncpg.DuplicateDatabaseError:
            pass  # another run built it meanwhile: the same content
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{building}" WITH (FORCE)')
        stale = await admin.fetch(
            "SELECT datname FROM pg_database WHERE datname LIKE $1 AND length(datname) = $2 "
            "AND datname <> $3",
            f"{TEMPLATE_PREFIX}%",
            len(template),
            template,
        )
        for row in stale:
            await admin.execute(f'DROP DATABASE IF EXISTS "{row["datname"]}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')


def spread(values: list[float]) -> str:
    """min / median / max, the way docs/benchmarks.md reports runs."""
    return (
        f"{min(values):,.0f} / {statistics.median(values):,.0f} / {max(values):,.0f} "
        f"(n={len(values)})"
    )
