"""Multi-row INSERT … RETURNING: a batch of rows and their new ids in one statement.

tortoise's ``bulk_create`` runs ``executemany`` and gives no ids back, which forced look-ups by
``created_at`` to link rows. PostgreSQL and SQLite (≥ 3.35) both return the ids of a multi-row
insert; each row is matched back through a column that is unique within the batch.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from tortoise.fields import Field, JSONField
from tortoise.fields.data import JSON_DUMPS
from tortoise.models import Model

_MAX_PARAMS = 30_000
"""Below the bind-parameter limits of PostgreSQL (32,767) and SQLite (32,766)."""

_compact = json.JSONEncoder(separators=(",", ":")).encode
"""What tortoise's ``JSONField`` writes (``json.dumps(value, separators=(",", ":"))``), with one
encoder for every row instead of one built per value: most of a record's bytes are JSON."""


def converter(field: Field[Any]) -> Callable[[Any, Any], Any]:
    """``field.to_db_value``, made cheaper for the JSON columns of a row (dicts and lists)."""
    if not isinstance(field, JSONField) or field.encoder is not JSON_DUMPS or field.validators:
        return field.to_db_value

    def to_db(value: Any, row: Model | type[Model]) -> Any:
        if isinstance(value, dict | list):
            return _compact(value)
        return field.to_db_value(value, row)

    return to_db


async def insert_returning(rows: Sequence[Model], *, key: str) -> dict[Any, int]:
    """Insert ``rows`` (all of one model); map each row's ``key`` column value to its new id
    (and set the ids on the instances). ``key`` must be unique within ``rows``."""
    if not rows:
        return {}
    model = type(rows[0])
    meta = model._meta
    db = model._choose_db(for_write=True)
    executor = db.executor_class(model=model, db=db)
    fields, columns = executor._prepare_insert_columns()
    key_column = meta.fields_db_projection[key]
    per_statement = max(1, _MAX_PARAMS // len(fields))
    convert = [(name, converter(meta.fields_map[name])) for name in fields]
    ids: dict[Any, int] = {}
    postgres = db.capabilities.dialect == "postgres"
    for start in range(0, len(rows), per_statement):
        chunk = rows[start : start + per_statement]
        values: list[Any] = []
        groups = []
        for row in chunk:
            marks = []
            for name, to_db in convert:
                values.append(to_db(getattr(row, name), row))
                marks.append(f"${len(values)}" if postgres else "?")
            groups.append(f"({', '.join(marks)})")
        names = ", ".join(f'"{c}"' for c in columns)
        sql = (
            f'INSERT INTO "{meta.db_table}" ({names}) VALUES {", ".join(groups)} '
            f'RETURNING "{meta.db_pk_column}", "{key_column}"'
        )
        for record in await db.execute_query_dict(sql, values):  # fetches on both drivers
            ids[record[key_column]] = int(record[meta.db_pk_column])
    for row in rows:
        row.pk = ids[getattr(row, key)]
        row._saved_in_db = True
    return ids


async def copy_rows(rows: Sequence[Model], *, key: str | None = None) -> None:
    """Insert ``rows`` (all of one model) in bulk. On PostgreSQL with binary ``COPY``; with a
    ``key`` the rows get their ids, drawn from the table's sequence first (two statements
    whatever the number of rows). Elsewhere :func:`insert_returning` (``key``), or one
    ``executemany``."""
    if not rows:
        return
    model = type(rows[0])
    meta = model._meta
    db = model._choose_db(for_write=True)
    if db.capabilities.dialect != "postgres":
        if key is not None:
            await insert_returning(rows, key=key)
        else:
            await model.bulk_create(list(rows), using_db=db)
        return
    executor = db.executor_class(model=model, db=db)
    fields, columns = executor._prepare_insert_columns()
    convert = [(name, converter(meta.fields_map[name])) for name in fields]
    records = [[to_db(getattr(row, name), row) for name, to_db in convert] for row in rows]
    pk = meta.db_pk_column
    if key is not None:
        _, drawn = await db.execute_query(
            f"SELECT nextval(pg_get_serial_sequence('{meta.db_table}', '{pk}')) "
            "FROM generate_series(1, $1)",
            [len(rows)],
        )
        for row, record, drawn_row in zip(rows, records, drawn, strict=True):
            row.pk = int(drawn_row[0])
            row._saved_in_db = True
            record.insert(0, row.pk)
        columns = [pk, *columns]
    async with db.acquire_connection() as conn:
        await conn.copy_records_to_table(
            meta.db_table, records=[tuple(r) for r in records], columns=columns
        )
