"""Applying the built-in tortoise migrations from our own code (CLI, tests)."""

from __future__ import annotations

from tortoise import Tortoise
from tortoise.migrations.api import migrate

from api.db import tortoise_config


async def migrate_database(database_url: str) -> None:
    """Bring the database to the latest migration, creating it on first use."""
    try:
        await migrate(config=tortoise_config(database_url))
    finally:
        await Tortoise.close_connections()
