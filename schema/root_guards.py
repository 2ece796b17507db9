"""Checks that concern root fields only, wrapped around the root resolvers once.

As strawberry extensions with a ``resolve`` hook they ran as graphql-core middleware around
every field of every response (a 50-lead page resolves ~700 fields), and strawberry builds a
fresh middleware manager per request, so each field's resolver chain was rebuilt each time.
Wrapped here, they cost nothing below the root and keep the order they had as middleware:
the input guard runs first, then the rep binding, then the resolver.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import strawberry
from graphql import GraphQLObjectType, default_field_resolver

from schema.input_guard import InputGuard
from schema.rep_binding import RepBinding

Guard = Callable[..., object]


def root_guards() -> list[Guard]:
    """Innermost first."""
    return [RepBinding().resolve, InputGuard().resolve]


def guard_root_fields(schema: strawberry.Schema, guards: list[Guard] | None = None) -> None:
    graphql_schema = schema._schema
    roots: list[GraphQLObjectType | None] = [
        graphql_schema.query_type,
        graphql_schema.mutation_type,
        graphql_schema.subscription_type,
    ]
    for root in roots:
        for field in root.fields.values() if root is not None else ():
            resolve: Callable[..., Any] = field.resolve or default_field_resolver
            for guard in guards if guards is not None else root_guards():
                resolve = partial(guard, resolve)
            field.resolve = resolve
