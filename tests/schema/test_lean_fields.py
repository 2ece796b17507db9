"""Lean fields answer what strawberry's own resolution answers: data, nulls and errors."""

from __future__ import annotations

import enum
from typing import Any

import pytest
import strawberry
from graphql import GraphQLObjectType

from schema.lean_fields import LEAF, LeanExecutor, lean_fields
from schema.root import build_schema


@strawberry.enum
class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Deny(strawberry.BasePermission):
    message = "denied"

    def has_permission(self, source: Any, info: strawberry.Info, **kwargs: Any) -> bool:
        return False


@strawberry.type
class Item:
    name: str
    colour: Colour
    note: str | None
    count: int

    @strawberry.field
    def shout(self) -> str:
        return self.name.upper()

    @strawberry.field
    def who(self, info: strawberry.Info) -> str:
        return f"{self.name}/{info.context['user']}"

    @strawberry.field
    async def later(self, info: strawberry.Info) -> str:
        return f"{self.name} later for {info.context['user']}"

    @strawberry.field
    def broken(self) -> str:
        raise ValueError("resolver failed")

    @strawberry.field(permission_classes=[Deny])
    def secret(self) -> str:
        return "never"


@strawberry.type
class Query:
    @strawberry.field
    def items(self) -> list[Item]:
        return [
            Item(name="a", colour=Colour.RED, note=None, count=1),
            Item(name="b", colour=Colour.BLUE, note="n", count=2),
        ]

    @strawberry.field
    def odd(self) -> list[Item | None]:
        """One fault each: a null name, an unknown colour, a count that is no integer."""
        return [
            Item(name=None, colour=Colour.RED, note=None, count=1),  # type: ignore[arg-type]
            Item(name="c", colour="green", note=None, count=1),  # type: ignore[arg-type]
            Item(name="d", colour=Colour.RED, note=None, count="x"),  # type: ignore[arg-type]
            Item(name="e", colour=Colour.BLUE, note="fine", count=3),
        ]


def _schemas() -> tuple[strawberry.Schema, strawberry.Schema]:
    plain = strawberry.Schema(query=Query)
    lean = strawberry.Schema(query=Query, execution_context_class=LeanExecutor)
    assert lean_fields(lean) > 0
    return plain, lean


QUERIES = [
    "{ items { name colour note count } }",
    "{ odd { name colour note count } }",
    "{ items { n: name c: colour shout who later } }",
    "{ items { note broken } }",
    "{ items { secret } }",
    "{ items { __typename count @include(if: false) note @skip(if: true) name } }",
]


def _answer(result: Any) -> tuple[Any, list[tuple[str, Any]]]:
    errors = sorted((e.message, e.path) for e in result.errors or [])
    return result.data, errors


@pytest.mark.parametrize("query", QUERIES)
async def test_lean_schema_answers_like_strawberry(query: str) -> None:
    plain, lean = _schemas()
    context = {"user": "u"}
    expected = await plain.execute(query, context_value=context)
    got = await lean.execute(query, context_value=context)
    assert _answer(got) == _answer(expected)


def test_what_is_rewired_and_what_is_not() -> None:
    _, lean = _schemas()
    item = lean._schema.type_map["Item"]
    assert isinstance(item, GraphQLObjectType)
    assert LEAF in item.fields["name"].extensions
    assert LEAF in item.fields["colour"].extensions
    assert item.fields["who"].resolve.__name__ == "resolve_with_info"
    assert item.fields["shout"].resolve.__name__ == "resolve"
    assert item.fields["secret"].resolve.__name__ != "resolve"  # permission: strawberry's path
    query = lean._schema.query_type
    assert query is not None
    assert query.fields["items"].resolve.__name__ != "resolve"  # root fields keep theirs


def test_the_application_schema_uses_lean_fields() -> None:
    schema = build_schema()
    lead = schema._schema.type_map["Lead"]
    assert isinstance(lead, GraphQLObjectType)
    assert LEAF in lead.fields["email"].extensions
    assert lead.fields["account"].resolve.__name__ == "resolve_with_info"
    assert schema.execution_context_class is LeanExecutor
