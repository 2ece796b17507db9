"""Multi-row INSERT … RETURNING and COPY: a batch of rows and their new ids in a statement or two.

tortoise's ``bulk_create`` runs ``executemany`` and gives no ids back, which forced look-ups by
``created_at`` to link rows. PostgreSQL and SQLite (≥ 3.35) both return the ids of a multi-row
insert; each row is matched back through a column that is unique within the batch.

Rows come either as unsaved models or, on the bulk path, as plain field values
(:func:`insert_values`: no model instance per row), converted to database values by the same
field converters, so both give the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from json.encoder import c_make_encoder, encode_basestring_ascii  # type: ignore[attr-defined]
from typing import Any

from tortoise import timezone
from tortoise.fields import (
    BigIntField,
    BooleanField,
    CharField,
    DatetimeField,
    Field,
    FloatField,
    IntField,
    JSONField,
)
from tortoise.fields.data import JSON_DUMPS, CharEnumFieldInstance
from tortoise.models import Model
from tortoise.validators import MaxLengthValidator

_MAX_PARAMS = 30_000
"""Below the bind-parameter limits of PostgreSQL (32,767) and SQLite (32,766)."""

_JSON = json.JSONEncoder(separators=(",", ":"))
_encode = c_make_encoder(
    None, _JSON.default, encode_basestring_ascii, None, ":", ",", False, False, True
)
"""What tortoise's ``JSONField`` writes (``json.dumps(value, separators=(",", ":"))``: the C
encoder ``JSONEncoder.encode`` builds per call, with the same options), built once for every
row instead of once per value: most of a record's bytes are JSON. No circular-reference check:
rows are trees of plain values."""


def _compact(value: Any) -> str:
    return "".join(_encode(value, 0))


def converter(field: Field[Any], *, detached: bool = False) -> Callable[[Any, Any], Any]:
    """``field.to_db_value``, with a shortcut for the values of the type the column stores
    (most of a batch's values; the rest, and every error, go through tortoise's own).

    The shortcuts give what ``to_db_value`` gives for those values: JSON text of dicts and
    lists (tortoise's default encoder); an enum member's value as text; an ``int``, ``float``
    or ``bool`` as is; a ``str`` within the column's length; an aware ``datetime`` as is (made
    aware only when naive; stamped only for ``auto_now``/``auto_now_add`` fields, which keep
    tortoise's conversion, unless ``detached``: for rows that are not model instances, which
    tortoise never stamps)."""
    to_db = field.to_db_value
    validators = field.validators
    if isinstance(field, JSONField):
        if field.encoder is not JSON_DUMPS or validators:
            return to_db

        def to_json(value: Any, row: Model | type[Model]) -> Any:
            if isinstance(value, dict | list):
                return _compact(value)
            return to_db(value, row)

        return to_json
    if isinstance(field, CharEnumFieldInstance):
        if not all(isinstance(v, MaxLengthValidator) for v in validators):
            return to_db
        members: dict[Any, str] = {m: str(m.value) for m in field.enum_type}
        members = {m: text for m, text in members.items() if len(text) <= field.max_length}

        def to_text(value: Any, row: Model | type[Model]) -> Any:
            text = members.get(value) if isinstance(value, Enum | str) else None
            return text if text is not None else to_db(value, row)

        return to_text
    same = _unchanged(field, detached)
    if same is None:
        return to_db
    null = field.null

    def convert(value: Any, row: Model | type[Model]) -> Any:
        if (value is None and null) or same(value):
            return value
        return to_db(value, row)

    return convert


_EXACT: dict[type[Field[Any]], type] = {
    IntField: int,
    BigIntField: int,
    FloatField: float,
    BooleanField: bool,
}


def _unchanged(field: Field[Any], detached: bool) -> Callable[[Any], bool] | None:
    """Which values ``field.to_db_value`` returns as they are (None: no shortcut)."""
    validators = field.validators
    if isinstance(field, DatetimeField):
        if validators or (not detached and (field.auto_now or field.auto_now_add)):
            return None
        return lambda value: type(value) is datetime and value.utcoffset() is not None
    if isinstance(field, CharField):
        if len(validators) != 1 or not isinstance(validators[0], MaxLengthValidator):
            return None
        limit = validators[0].max_length
        return lambda value: type(value) is str and len(value) <= limit
    kind = _EXACT.get(type(field))
    if kind is None or validators:
        return None
    return lambda value: type(value) is kind


class _Detached:
    """Stands for the row in ``to_db_value``: not a saved or unsaved instance, so a datetime
    field does not stamp it (``auto_now_add`` values are filled in by :meth:`_Table.values`)."""


_DETACHED = _Detached()


@dataclass(frozen=True, slots=True)
class _Table:
    """How a model's rows become database values: the insert columns (generated primary key
    left out), each field's converter (for model instances, and for field values), and its
    default as ``Model.__init__`` would set it."""

    model: type[Model]
    fields: list[str]
    columns: list[str]
    convert: list[Callable[[Any, Any], Any]]
    convert_values: list[Callable[[Any, Any], Any]]
    defaults: list[Callable[[], Any]]

    def values(self, row: dict[str, Any]) -> list[Any]:
        """One row's database values from its field values; missing fields take defaults."""
        return self.maker(frozenset())(row)

    def maker(self, encoded: frozenset[str]) -> Callable[[dict[str, Any]], list[Any]]:
        """:meth:`values`, with the JSON fields named in ``encoded`` given as their text
        already (written as they are; the bulk job's records, encoded by the engine workers)."""
        key = (self.model, encoded)
        make = _MAKERS.get(key)
        if make is not None:
            return make
        plan = [
            (name, None if name in encoded else to_db, default)
            for name, to_db, default in zip(
                self.fields, self.convert_values, self.defaults, strict=True
            )
        ]

        def values(row: dict[str, Any]) -> list[Any]:
            out: list[Any] = []
            append = out.append
            for name, to_db, default in plan:
                value = row[name] if name in row else default()
                append(value if to_db is None else to_db(value, _DETACHED))
            return out

        _MAKERS[key] = values
        return values

    def of_model(self, row: Model) -> list[Any]:
        pairs = zip(self.fields, self.convert, strict=True)
        return [to_db(getattr(row, name), row) for name, to_db in pairs]


_TABLES: dict[type[Model], _Table] = {}
_MAKERS: dict[tuple[type[Model], frozenset[str]], Callable[[dict[str, Any]], list[Any]]] = {}


def _table(model: type[Model]) -> _Table:
    table = _TABLES.get(model)
    if table is None:
        meta = model._meta
        fields = [f for f in meta.fields_db_projection if not meta.fields_map[f].generated]
        table = _TABLES[model] = _Table(
            model=model,
            fields=fields,
            columns=[meta.fields_db_projection[f] for f in fields],
            convert=[converter(meta.fields_map[f]) for f in fields],
            convert_values=[converter(meta.fields_map[f], detached=True) for f in fields],
            defaults=[_default(meta.fields_map[f]) for f in fields],
        )
    return table


def _default(field: Field[Any]) -> Callable[[], Any]:
    """The value ``Model.__init__`` gives a field left out (and ``auto_now_add``'s stamp)."""
    if isinstance(field, DatetimeField) and field.auto_now:
        raise NotImplementedError(f"{field.model_field_name}: auto_now stamps every write")
    if isinstance(field, DatetimeField) and field.auto_now_add:
        return timezone.localtime
    default = field.default
    if callable(default):
        return default  # type: ignore[no-any-return]
    if default is not None:
        return lambda: default
    if field.has_db_default():
        db_default = field.get_db_default_value()
        return lambda: db_default
    return lambda: None


async def insert_returning(rows: Sequence[Model], *, key: str) -> dict[Any, int]:
    """Insert ``rows`` (all of one model); map each row's ``key`` column value to its new id
    (and set the ids on the instances). ``key`` must be unique within ``rows``."""
    if not rows:
        return {}
    table = _table(type(rows[0]))
    ids = await _insert_returning(table, [table.of_model(row) for row in rows], key)
    for row in rows:
        row.pk = ids[getattr(row, key)]
        row._saved_in_db = True
    return ids


async def _insert_returning(table: _Table, records: list[list[Any]], key: str) -> dict[Any, int]:
    meta = table.model._meta
    db = table.model._choose_db(for_write=True)
    key_column = meta.fields_db_projection[key]
    per_statement = max(1, _MAX_PARAMS // len(table.fields))
    ids: dict[Any, int] = {}
    postgres = db.capabilities.dialect == "postgres"
    names = ", ".join(f'"{c}"' for c in table.columns)
    for start in range(0, len(records), per_statement):
        chunk = records[start : start + per_statement]
        values: list[Any] = []
        groups = []
        for record in chunk:
            first = len(values)
            values.extend(record)
            marks = (f"${first + 1 + i}" if postgres else "?" for i in range(len(record)))
            groups.append(f"({', '.join(marks)})")
        sql = (
            f'INSERT INTO "{meta.db_table}" ({names}) VALUES {", ".join(groups)} '
            f'RETURNING "{meta.db_pk_column}", "{key_column}"'
        )
        for result in await db.execute_query_dict(sql, values):  # fetches on both drivers
            ids[result[key_column]] = int(result[meta.db_pk_column])
    return ids


async def copy_rows(rows: Sequence[Model], *, key: str | None = None) -> None:
    """Insert ``rows`` (all of one model) in bulk. On PostgreSQL with binary ``COPY``; with a
    ``key`` the rows get their ids, drawn from the table's sequence first (two statements
    whatever the number of rows). Elsewhere :func:`insert_returning` (``key``), or one
    ``executemany``."""
    if not rows:
        return
    model = type(rows[0])
    db = model._choose_db(for_write=True)
    if db.capabilities.dialect != "postgres":
        if key is not None:
            await insert_returning(rows, key=key)
        else:
            await model.bulk_create(list(rows), using_db=db)
        return
    table = _table(model)
    ids = await _copy(table, [table.of_model(row) for row in rows], with_ids=key is not None)
    for row, pk in zip(rows, ids, strict=False):
        row.pk = pk
        row._saved_in_db = True


async def insert_values(
    model: type[Model],
    rows: Sequence[dict[str, Any]],
    *,
    key: str | None = None,
    encoded: frozenset[str] = frozenset(),
) -> list[int]:
    """Insert rows given as field values (missing fields take their defaults, as a model
    would; JSON fields named in ``encoded`` as their JSON text); with a ``key`` (unique within
    ``rows``) return the new ids, in order. PostgreSQL: binary ``COPY`` (ids drawn from the
    sequence first); elsewhere multi-row ``INSERT … RETURNING`` (``key``) or one
    ``executemany``."""
    if not rows:
        return []
    table = _table(model)
    make = table.maker(encoded)
    records = [make(row) for row in rows]
    db = model._choose_db(for_write=True)
    if db.capabilities.dialect == "postgres":
        return await _copy(table, records, with_ids=key is not None)
    if key is not None:
        ids = await _insert_returning(table, records, key)
        position = table.fields.index(key)
        return [ids[record[position]] for record in records]
    names = ", ".join(f'"{c}"' for c in table.columns)
    marks = ", ".join("?" * len(table.fields))
    # one prepared statement over every row, as tortoise's bulk_create (no statement per batch
    # size for SQLite to parse)
    await db.execute_many(
        f'INSERT INTO "{model._meta.db_table}" ({names}) VALUES ({marks})', records
    )
    return []


async def _copy(table: _Table, records: list[list[Any]], *, with_ids: bool) -> list[int]:
    meta = table.model._meta
    db = table.model._choose_db(for_write=True)
    columns = table.columns
    ids: list[int] = []
    rows: list[tuple[Any, ...]]
    if with_ids:
        pk = meta.db_pk_column
        _, drawn = await db.execute_query(
            f"SELECT nextval(pg_get_serial_sequence('{meta.db_table}', '{pk}')) "
            "FROM generate_series(1, $1)",
            [len(records)],
        )
        ids = [int(row[0]) for row in drawn]
        rows = [(pk_, *record) for pk_, record in zip(ids, records, strict=True)]
        columns = [pk, *columns]
    else:
        rows = [tuple(record) for record in records]
    async with db.acquire_connection() as conn:
        await conn.copy_records_to_table(meta.db_table, records=rows, columns=columns)
    return ids
