"""Bad input stops at the GraphQL boundary with an error naming the field, before any resolver
runs: so nothing is half-written and no database error becomes an ``internal_error``.

One walk over the arguments of every root field checks what GraphQL's own coercion lets
through: string lengths (from the models' columns, see schema/columns.py), NUL characters
(PostgreSQL rejects them), global ids whose database id is not a 32-bit positive integer,
non-finite or oversized decimals, NaN/Infinity inside JSON values, and dates outside
``EARLIEST..LATEST`` (PostgreSQL turns year 1 into ``-infinity``; time-zone shifts overflow).

A mutation whose payload has ``userErrors`` answers the payload with that one error; a query
answers a top-level error with ``extensions.code`` ``invalid_input``.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Final

from graphql import (
    GraphQLError,
    GraphQLField,
    GraphQLID,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLResolveInfo,
    get_named_type,
)
from strawberry import relay
from strawberry.types.base import StrawberryList, StrawberryOptional
from strawberry.types.unset import UnsetType

from api.errors import InvalidInput, LeadgateError
from schema.columns import decimal_bound, string_limit
from schema.errors import UserError

MAX_DB_ID: Final = 2**31 - 1
"""Ids are 32-bit integer columns on PostgreSQL."""
EARLIEST: Final = date(1900, 1, 1)
LATEST: Final = date(2999, 12, 31)
STRING_KEYS: Final = {"Rulebook": re.compile(r"[0-9a-f]{64}")}
"""Node types whose id is not a database integer: a rulebook is its version (a sha256)."""


class BadInput(InvalidInput):
    """An invalid argument value, with its GraphQL path (``['input', 'company', 'name']``)."""

    def __init__(self, message: str, path: list[str], suggestion: str | None = None) -> None:
        super().__init__(message, field=".".join(path), suggestion=suggestion)
        self.path = path


def _problems(
    value: object, kind: GraphQLInputType, path: list[str], owner: str | None
) -> Iterator[BadInput]:
    """Every problem in one coerced argument value of GraphQL type ``kind``; ``owner`` is the
    input type that holds it."""
    named = get_named_type(kind)
    if value is None or isinstance(value, UnsetType | bool):
        return
    if isinstance(named, GraphQLInputObjectType) and isinstance(value, dict):
        for key, child in value.items():
            field = named.fields.get(key)
            if field is not None:
                yield from _problems(child, field.type, [*path, key], named.name)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _problems(item, kind, [*path, str(index)], owner)
    elif isinstance(value, str) and named is GraphQLID:
        yield from _global_id(value, path)
    elif isinstance(value, str):
        yield from _string(value, path, owner)
    elif isinstance(value, relay.GlobalID):
        yield from _global_id(str(value), path)
    elif isinstance(value, Decimal | float):
        yield from _number(value, path, owner)
    elif isinstance(value, datetime | date):
        yield from _moment(value, path)
    elif isinstance(value, dict):
        yield from _json(value, path)


def _global_id(value: str, path: list[str]) -> Iterator[BadInput]:
    """A global id whose database id is a positive 32-bit integer (every id column is), or,
    for the few nodes keyed by a string (STRING_KEYS), a key of that shape."""
    try:
        global_id = relay.GlobalID.from_id(value)
        type_name, node_id = global_id.type_name, global_id.node_id
    except Exception:  # strawberry raises GlobalIDValueError, binascii.Error or ValueError
        type_name, node_id = "", ""
    if (key := STRING_KEYS.get(type_name)) is not None:
        valid = key.fullmatch(node_id) is not None
    else:
        valid = node_id.isascii() and node_id.isdigit() and 1 <= int(node_id) <= MAX_DB_ID
    if not valid:
        yield BadInput(f"malformed id in {path[-1]}", path, "pass an id the API returned")


def _string(value: str, path: list[str], owner: str | None) -> Iterator[BadInput]:
    name = path[-1]
    if "\x00" in value:
        yield BadInput(f"{name} contains a NUL character", path, "remove \\u0000")
    limit = string_limit(owner, name)
    if len(value) > limit:
        yield BadInput(
            f"{name} is {len(value)} characters long; the limit is {limit}",
            path,
            f"send at most {limit} characters",
        )


def _number(value: Decimal | float, path: list[str], owner: str | None) -> Iterator[BadInput]:
    name = path[-1]
    if (isinstance(value, float) and not math.isfinite(value)) or (
        isinstance(value, Decimal) and not value.is_finite()
    ):
        yield BadInput(f"{name} must be a finite number", path)
    elif abs(Decimal(value)) >= (bound := decimal_bound(owner, name)):
        yield BadInput(f"{name} must be below {bound:,}", path)


def _moment(value: date, path: list[str]) -> Iterator[BadInput]:
    name = path[-1]
    day = value
    if isinstance(value, datetime):
        try:
            day = value.astimezone(UTC).date() if value.tzinfo else value.date()
        except OverflowError:
            day = date.max
    if not EARLIEST <= day <= LATEST:
        yield BadInput(
            f"{name} must be between {EARLIEST.isoformat()} and {LATEST.isoformat()}",
            path,
            "send a real date, with a time zone",
        )


def _json(value: object, path: list[str]) -> Iterator[BadInput]:
    """JSON values: finite numbers only, no NUL in strings or keys (PostgreSQL jsonb)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            yield BadInput(f"{path[-1]} holds a non-finite number (NaN or Infinity)", path)
            return
        if isinstance(item, str) and "\x00" in item:
            yield BadInput(f"{path[-1]} holds a NUL character", path)
            return
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def check_arguments(field: GraphQLField, kwargs: dict[str, Any]) -> BadInput | None:
    """The first problem in a root field's coerced arguments, or None."""
    for name, value in kwargs.items():
        argument = field.args.get(name)
        if argument is None:
            continue
        for problem in _problems(value, argument.type, [name], None):
            return problem
    return None


def payload_with_error(
    info: GraphQLResolveInfo[Any], error: LeadgateError, path: list[str]
) -> object | None:
    """The field's payload type holding just this error, when it has ``userErrors``."""
    strawberry_schema = getattr(info.schema, "_strawberry_schema", None)
    named = get_named_type(info.return_type)
    if strawberry_schema is None or "userErrors" not in getattr(named, "fields", {}):
        return None
    definition = strawberry_schema.get_type_by_name(named.name)
    cls = definition.origin
    types = {f.python_name: f.type for f in definition.fields}
    values: dict[str, object] = {}
    for field in dataclasses.fields(cls):
        if not field.init:
            continue
        kind = types.get(field.name)
        if field.name == "user_errors":
            values[field.name] = [
                UserError(
                    code=error.code,
                    message=error.message,
                    field=path,
                    suggestion=error.suggestion,
                )
            ]
        elif field.default is not dataclasses.MISSING:
            continue
        elif kind is None or isinstance(kind, StrawberryOptional):
            values[field.name] = None
        elif isinstance(kind, StrawberryList):
            values[field.name] = []
        elif kind is bool:
            values[field.name] = False
        else:
            return None  # a required value we cannot invent: answer a top-level error
    payload: object = cls(**values)
    return payload


class InputGuard:
    """Checks the arguments of every root field before its resolver runs (wrapped around the
    root resolvers once by :func:`schema.root_guards.guard_root_fields`)."""

    def resolve(
        self,
        _next: Callable[..., object],
        root: object,
        info: GraphQLResolveInfo[Any],
        *args: object,
        **kwargs: object,
    ) -> object:
        if info.path.prev is not None or not kwargs:
            return _next(root, info, *args, **kwargs)
        field = info.parent_type.fields.get(info.field_name)
        if field is None:  # __type, __schema, __typename
            return _next(root, info, *args, **kwargs)
        problem = check_arguments(field, kwargs)
        if problem is None:
            return _next(root, info, *args, **kwargs)
        payload = payload_with_error(info, problem, problem.path)
        if payload is not None:
            return payload
        raise GraphQLError(
            problem.message,
            extensions={"code": problem.code, "field": problem.path},
            original_error=problem,
        )
