"""Row locks where the database has them.

PostgreSQL takes ``SELECT … FOR UPDATE``. SQLite has no row locks, but tortoise serialises
SQLite transactions on its single connection, which gives the same guarantee in one process.
"""

from __future__ import annotations

from typing import TypeVar

from tortoise import Tortoise
from tortoise.models import Model
from tortoise.queryset import QuerySet

M = TypeVar("M", bound=Model)


def on_postgres() -> bool:
    return Tortoise.get_connection("default").capabilities.dialect == "postgres"


def for_update(query: QuerySet[M], *, skip_locked: bool = False) -> QuerySet[M]:
    """Lock the rows a model query returns. Only model queries: tortoise 1.1 drops the lock
    from ``values()``/``values_list()``, so re-check the state you change after locking."""
    return query.select_for_update(skip_locked=skip_locked) if on_postgres() else query
