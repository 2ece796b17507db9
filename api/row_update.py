"""``Model.save(update_fields=...)`` for the hot paths, without the ORM's per-call machinery.

tortoise's save builds an executor, awaits the (empty) pre- and post-save signal lists,
re-checks each field and looks the statement up in its cache on every call: about a third
of evaluateLead's lead UPDATE. :func:`update_fields` sends the same statement with the same
values (each field's own ``to_db_value``, so ``auto_now`` columns take the clock as the ORM's
save does), and leaves anything unusual to the ORM.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal

import asyncpg
from asyncpg.transaction import Transaction, TransactionState
from tortoise.backends.asyncpg.client import TransactionWrapper
from tortoise.exceptions import IntegrityError, OperationalError
from tortoise.expressions import Expression
from tortoise.fields.base import DatabaseDefault
from tortoise.models import Model
from tortoise.signals import Signals


@functools.cache
def _sql(model: type[Model], fields: tuple[str, ...], pg: bool) -> str:
    meta = model._meta
    columns = [meta.fields_db_projection[f] for f in fields]
    if pg:
        sets = ", ".join(f'"{c}" = ${n}' for n, c in enumerate(columns, 1))
        where = f"${len(columns) + 1}"
    else:
        sets = ", ".join(f'"{c}" = ?' for c in columns)
        where = "?"
    return f'UPDATE "{meta.db_table}" SET {sets} WHERE "{meta.db_pk_column}" = {where}'


def _plain(instance: Model, fields: Sequence[str]) -> bool:
    """Whether the lean path does what the ORM's save would: a stored, complete row, plain
    values in ordinary columns, no signal listeners."""
    model = type(instance)
    if instance._partial or not instance._saved_in_db or instance.pk is None:
        return False
    if getattr(instance, "_await_when_save", None):
        return False
    for signal in (Signals.pre_save, Signals.post_save):
        if model._listeners.get(signal, {}).get(model):
            return False
    fields_map = model._meta.fields_map
    for name in fields:
        field = fields_map.get(name)
        if field is None or field.pk or field.generated:
            return False
        value = getattr(instance, name)
        if isinstance(value, DatabaseDefault | Expression):
            return False
    return True


async def update_fields(instance: Model, fields: Sequence[str]) -> None:
    """``await instance.save(update_fields=fields)``: the same UPDATE, the same values."""
    if not fields or not _plain(instance, fields):
        await instance.save(update_fields=list(fields))
        return
    model = type(instance)
    meta = model._meta
    db = instance._choose_db(for_write=True)
    fields_map = meta.fields_map
    values = [fields_map[name].to_db_value(getattr(instance, name), instance) for name in fields]
    values.append(meta.pk.to_db_value(instance.pk, instance))
    pg = db.capabilities.dialect == "postgres"
    await db.execute_query(_sql(model, tuple(fields), pg), values)


def _literal(value: object) -> str | None:
    """``value`` as an SQL literal PostgreSQL reads into the column's type exactly as it reads
    the driver's parameter (text for strings, JSON and times; the shortest round-trip text for
    floats); None for a value it has no exact literal for here."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        text = repr(float(value))
        return {"nan": "'NaN'", "inf": "'Infinity'", "-inf": "'-Infinity'"}.get(text, f"'{text}'")
    if isinstance(value, datetime):
        return None if value.tzinfo is None else _quoted(value.isoformat())
    if isinstance(value, date | Decimal):
        return _quoted(str(value))
    if isinstance(value, str):
        return None if "\x00" in value else _quoted(value)
    return None


def _quoted(text: str) -> str:
    """An escape string constant: the same text whatever ``standard_conforming_strings`` is."""
    return "E'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def _open_transaction(connection: object) -> tuple[TransactionWrapper, Transaction] | None:
    """The asyncpg transaction of a top-level tortoise transaction, still open, or None."""
    if not isinstance(connection, TransactionWrapper) or connection._finalized:
        return None
    transaction = connection.transaction
    if (
        transaction is None
        or transaction._nested
        or transaction._state is not TransactionState.STARTED
        or transaction._connection._top_xact is not transaction
    ):
        return None
    return connection, transaction


async def update_and_commit(instance: Model, fields: Sequence[str], connection: object) -> bool:
    """:func:`update_fields` as the last statement of ``connection``'s transaction, sent
    with its COMMIT in one message (one round trip less). ``connection``: what
    ``in_transaction()`` gave, on PostgreSQL, not nested. Returns False (nothing sent) when
    that does not hold or a value has no exact literal: update, then commit, as usual.

    Both statements go as one simple query: the UPDATE failing skips the COMMIT and the
    transaction stays open for the caller's rollback, as if the UPDATE alone had failed."""
    found = _open_transaction(connection)
    if found is None or not fields or not _plain(instance, fields):
        return False
    wrapper, transaction = found
    model = type(instance)
    meta = model._meta
    fields_map = meta.fields_map
    literals = []
    for name in fields:  # each field's to_db_value, as the ORM's save (auto_now: the clock)
        literal = _literal(fields_map[name].to_db_value(getattr(instance, name), instance))
        if literal is None:
            return False
        literals.append((meta.fields_db_projection[name], literal))
    pk = _literal(meta.pk.to_db_value(instance.pk, instance))
    if pk is None:
        return False
    sets = ", ".join(f'"{column}" = {literal}' for column, literal in literals)
    sql = f'UPDATE "{meta.db_table}" SET {sets} WHERE "{meta.db_pk_column}" = {pk}; COMMIT'
    raw = transaction._connection
    wrapper.log.debug("%s: %s", sql, [])  # as execute_query logs its statements
    try:
        await raw.execute(sql)
    except (asyncpg.SyntaxOrAccessError, asyncpg.exceptions.DataError) as exc:
        raise OperationalError(exc) from exc  # the ORM's exception types, as execute_query's
    except asyncpg.IntegrityConstraintViolationError as exc:
        raise IntegrityError(exc) from exc
    # what asyncpg's Transaction.commit and tortoise's TransactionWrapper.commit record
    raw._top_xact = None
    transaction._state = TransactionState.COMMITTED
    wrapper._finalized = True
    return True
