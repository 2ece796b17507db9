"""Tortoise configuration: one app, ``models``, whose migrations live in ``api/migrations``."""

from typing import Any

from tortoise.backends.base.config_generator import expand_db_url

from api.settings import get_settings

MODELS_MODULE = "api.models"
MIGRATIONS_MODULE = "api.migrations"


async def keep_session(_connection: object) -> None:
    """asyncpg's pool ``reset``: nothing to send when a connection goes back to the pool.

    asyncpg's default reset sends ``pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET
    ALL`` on every release: one more round trip per request (evaluateLead: one in six). This
    app leaves no session state on pooled connections (``SET LOCAL`` and transaction-scoped
    advisory locks only; LISTEN runs on its own connection, api.rulebook_signal), and asyncpg
    still rolls back an open transaction and drops listeners before calling this."""


def _connection(url: str) -> str | dict[str, Any]:
    """PostgreSQL as a dict (a URL cannot carry the pool's ``reset``); anything else as is."""
    if not url.startswith(("postgres://", "postgresql://", "asyncpg://")):
        return url
    config = expand_db_url(url)
    config["credentials"]["reset"] = keep_session
    return config


def tortoise_config(database_url: str | None = None) -> dict[str, Any]:
    """The config dict that the app, the CLI, the tests and ``tortoise`` CLI all share."""
    return {
        "connections": {"default": _connection(database_url or get_settings().database_url)},
        "apps": {
            "models": {
                "models": [MODELS_MODULE],
                "default_connection": "default",
                "migrations": MIGRATIONS_MODULE,
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


TORTOISE_ORM = tortoise_config()
