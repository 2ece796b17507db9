"""Applying the built-in tortoise migrations from our own code (CLI, tests)."""

from __future__ import annotations

from tortoise import Tortoise
from tortoise.migrations.api import migrate

from api.db import tortoise_config
from api.workers import apply_schema, is_postgres


async def migrate_database(database_url: str) -> None:
    """Bring the database to the latest migration, creating it on first use; on PostgreSQL
    also procrastinate's schema (once: a second run changes nothing)."""
    try:
        await migrate(config=tortoise_config(database_url))
    finally:
        await Tortoise.close_connections()
    if is_postgres(database_url):  # the task queue of `leadgate worker` (issue 10)
        await apply_schema(database_url)
