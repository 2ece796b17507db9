"""Lean writes for bulk evaluation: a statement per batch and kind of change, not per lead.

tortoise's ``bulk_update`` builds one ``CASE`` per column and row with pypika, which cost more
than the evaluation itself. Here the changed leads of a batch are written with one
``UPDATE … FROM`` per set of changed columns: ``unnest`` of typed arrays on PostgreSQL (one
parameter per column, whatever the batch size), a ``VALUES`` list on SQLite.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from api.bulk_read import connection, id_filter, id_params, is_postgres
from api.enums import HOLDING
from api.inserts import converter
from api.models import Lead, SalesRep

_MAX_PARAMS = 30_000
"""Below the bind-parameter limits of PostgreSQL (32,767) and SQLite (32,766)."""

_PG_TYPES = {
    "scores": "jsonb",
    "fit_score": "float8",
    "engagement_score": "float8",
    "stage": "varchar",
    "stage_entered_at": "timestamptz",
    "mql_at": "timestamptz",
    "owner_id": "int",
    "decision": "varchar",
    "version": "int",
    "evaluated_at": "timestamptz",
    "rescore_at": "timestamptz",
    "last_evaluation_id": "int",
    "updated_at": "timestamptz",
}
"""Every lead column an evaluation may change (``api.outcomes._lead_changes`` and ``link``)."""


async def lock_versions(lead_ids: Sequence[int]) -> dict[int, int]:
    """Lock the leads (PostgreSQL row locks; SQLite's single writer) and read their versions."""
    db = connection()
    lock = " FOR UPDATE" if is_postgres(db) else ""
    _, rows = await db.execute_query(
        f"SELECT id, version FROM lead WHERE {id_filter(db, 'id', lead_ids)} ORDER BY id{lock}",
        id_params(db, lead_ids),
    )
    return {int(row[0]): int(row[1]) for row in rows}


async def open_handoff_leads(lead_ids: Sequence[int]) -> set[int]:
    db = connection()
    pg = is_postgres(db)
    params = id_params(db, lead_ids)
    marks = ", ".join(f"${len(params) + 1 + i}" if pg else "?" for i in range(len(HOLDING)))
    _, rows = await db.execute_query(
        f"SELECT lead_id FROM handoff WHERE {id_filter(db, 'lead_id', lead_ids)} "
        f"AND status IN ({marks})",
        [*params, *(s.value for s in HOLDING)],
    )
    return {int(row[0]) for row in rows}


async def update_leads(changes: Sequence[tuple[int, dict[str, object]]], now: datetime) -> None:
    """Write each lead's changed columns (and ``updated_at``): one statement per column set.

    Values are converted column by column (one converter looked up per column and batch, the
    time stamp once), as tortoise would write them (``api.inserts.converter``)."""
    by_columns: dict[tuple[str, ...], list[tuple[int, dict[str, object]]]] = {}
    for lead_id, values in changes:
        if values:
            by_columns.setdefault(tuple(sorted(values)), []).append((lead_id, values))
    db = connection()
    stamp = _converter("updated_at")(now, Lead)
    for columns, rows in by_columns.items():
        names = (*columns, "updated_at")
        arrays: list[list[Any]] = [[lead_id for lead_id, _ in rows]]
        for column in columns:
            to_db = _converter(column)
            arrays.append([to_db(values[column], Lead) for _, values in rows])
        arrays.append([stamp] * len(rows))
        if is_postgres(db):
            await _update_postgres(db, names, arrays)
        else:
            await _update_sqlite(db, names, [list(row) for row in zip(*arrays, strict=True)])


_TO_DB: dict[str, Callable[[Any, Any], Any]] = {}
"""Per column, filled on first use (foreign key columns exist once tortoise is initialised)."""


def _converter(column: str) -> Callable[[Any, Any], Any]:
    """The column's converter to database values, as tortoise would write them."""
    to_db = _TO_DB.get(column)
    if to_db is None:
        to_db = _TO_DB[column] = converter(Lead._meta.fields_map[column])
    return to_db


async def _update_postgres(
    db: BaseDBAsyncClient, names: tuple[str, ...], arrays: list[list[Any]]
) -> None:
    types = ["int", *(_PG_TYPES[n] for n in names)]
    # jsonb arrays travel as text[] (asyncpg has no jsonb[] text codec by default)
    params = ", ".join(
        f"${i + 1}::text[]" if t == "jsonb" else f"${i + 1}::{t}[]" for i, t in enumerate(types)
    )
    sets = ", ".join(
        f'"{n}" = v."{n}"::jsonb' if _PG_TYPES[n] == "jsonb" else f'"{n}" = v."{n}"' for n in names
    )
    columns = ", ".join(["id", *(f'"{n}"' for n in names)])
    await db.execute_query(
        f"UPDATE lead AS l SET {sets} FROM unnest({params}) AS v({columns}) WHERE l.id = v.id",
        arrays,
    )


async def _update_sqlite(
    db: BaseDBAsyncClient, names: tuple[str, ...], table: list[list[Any]]
) -> None:
    width = len(names) + 1
    per_statement = max(1, _MAX_PARAMS // width)
    row = f"({', '.join('?' * width)})"
    sets = ", ".join(f'"{n}" = v."{n}"' for n in names)
    columns = ", ".join(["id", *(f'"{n}"' for n in names)])
    for start in range(0, len(table), per_statement):
        chunk = table[start : start + per_statement]
        await db.execute_query(
            f"WITH v({columns}) AS (VALUES {', '.join([row] * len(chunk))}) "
            f"UPDATE lead SET {sets} FROM v WHERE lead.id = v.id",
            [value for values in chunk for value in values],
        )


async def touch_reps(stamps: dict[int, datetime]) -> None:
    """Set each rep's ``last_assigned_at`` in one statement (was one UPDATE per rep)."""
    if not stamps:
        return
    db = connection()
    table = SalesRep._meta.db_table
    field = SalesRep._meta.fields_map["last_assigned_at"]
    rows = [(rep_id, field.to_db_value(at, SalesRep)) for rep_id, at in sorted(stamps.items())]
    if is_postgres(db):
        await db.execute_query(
            f'UPDATE "{table}" AS r SET last_assigned_at = v.at '
            "FROM unnest($1::int[], $2::timestamptz[]) AS v(id, at) WHERE r.id = v.id",
            [[r[0] for r in rows], [r[1] for r in rows]],
        )
        return
    for start in range(0, len(rows), _MAX_PARAMS // 2):
        chunk = rows[start : start + _MAX_PARAMS // 2]
        await db.execute_query(
            f"WITH v(id, at) AS (VALUES {', '.join(['(?, ?)'] * len(chunk))}) "
            f'UPDATE "{table}" SET last_assigned_at = v.at FROM v WHERE "{table}".id = v.id',
            [value for row in chunk for value in row],
        )
