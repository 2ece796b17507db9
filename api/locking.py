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


def for_update(query: QuerySet[M]) -> QuerySet[M]:
    return query.select_for_update() if on_postgres() else query
