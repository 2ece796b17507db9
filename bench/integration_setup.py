"""Shared by the integration benchmarks (issue 15): throw-away databases and run statistics."""

from __future__ import annotations

import os
import statistics
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg

from api.migrate import migrate_database

BASE = os.environ.get("LEADGATE_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")


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
        await admin.execute(f'CREATE DATABASE "{name}"')
        url = f"{server}/{name}"
        await migrate_database(url)
        yield url
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def spread(values: list[float]) -> str:
    """min / median / max, the way docs/benchmarks.md reports runs."""
    return (
        f"{min(values):,.0f} / {statistics.median(values):,.0f} / {max(values):,.0f} "
        f"(n={len(values)})"
    )
