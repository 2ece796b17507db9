"""Tortoise configuration: one app, ``models``, whose migrations live in ``api/migrations``."""

from typing import Any

from api.settings import get_settings

MODELS_MODULE = "api.models"
MIGRATIONS_MODULE = "api.migrations"


def tortoise_config(database_url: str | None = None) -> dict[str, Any]:
    """The config dict that the app, the CLI, the tests and ``tortoise`` CLI all share."""
    return {
        "connections": {"default": database_url or get_settings().database_url},
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
