"""The gate: cheap, linear limits checked before the specification's validation rules.

Every operation passes a cheap, linear *gate* before the specification's validation rules run
(some of those are quadratic, e.g. overlapping-fields checks on a thousand copies of a field):

- the parser stops at ``max_tokens`` lexical tokens, ``max_comments`` comments and
  ``max_query_length`` characters;
- the gate rejects operations deeper than ``max_depth`` fields, with more than ``max_aliases``
  aliases or ``max_directives`` directives, that select one response key more than
  ``max_field_repeats`` times in one selection set, that spread a fragment into itself, or
  whose cost is above ``max_cost``.

Cost: every field costs 1; a field that takes a ``first`` argument (connections, paged lists)
multiplies the cost of its selection by its page size: the literal value (capped at
``MAX_PAGE``), ``MAX_PAGE`` when it comes from a variable (values are not known when a
document is validated, so the worst case is assumed), else the argument's default or
``DEFAULT_PAGE``. Fragments count wherever they are spread. Introspection (``__schema``,
``__type``) is not costed; outside dev mode it is rejected by validation anyway.

The cached extension that runs this gate lives in schema/hardening.py.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, cast

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    get_named_type,
)

from api.settings import Settings
from schema.pagination import DEFAULT_PAGE, MAX_PAGE

_UNCOSTED = frozenset({"__schema", "__type"})
_CAP = 10**12  # counts saturate here, so fragment fan-out cannot build huge integers


@dataclass(frozen=True)
class Limits:
    """What one GraphQL document may ask for. Hashable: part of the validation cache key."""

    max_depth: int = 12
    """Nested fields, counted from the root field (introspection excluded)."""
    max_aliases: int = 30
    """Aliased fields in an operation, counted through fragment spreads."""
    max_directives: int = 50
    """Directives in an operation, counted through fragment spreads."""
    max_field_repeats: int = 20
    """Selections of one response key in one selection set (fragments merged)."""
    max_fragment_nesting: int = 50
    """Fragments spreading fragments spreading fragments..."""
    max_cost: int = 10_000
    """Fields, each multiplied by the page sizes of the lists above it."""
    max_tokens: int = 5_000
    """Lexical tokens the parser reads before it gives up (comments excluded)."""
    max_comments: int = 200
    """Comments the parser reads before it gives up."""
    max_query_length: int = 50_000
    """Characters of the query text, checked before lexing."""
    max_json_depth: int = 32
    """Nesting of the request body and of ``variables`` (objects and arrays)."""

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            max_depth=settings.max_depth,
            max_aliases=settings.max_aliases,
            max_directives=settings.max_directives,
            max_cost=settings.max_cost,
            max_tokens=settings.max_tokens,
        )


# --- the gate: one linear pass over the document ----------------------------------------------


@dataclass
class _Shape:
    """What a selection set asks for, with fragments expanded (by reference, not by copy)."""

    depth: int = 0
    aliases: int = 0
    directives: int = 0
    cost: int = 0
    repeats: tuple[int, str] = (0, "")
    keys: Counter[str] = field(default_factory=Counter)

    def merge(self, other: _Shape, times: int = 1) -> None:
        """Adds a fragment (inline or spread ``times``) that sits at the same level."""
        self.depth = max(self.depth, other.depth)
        self.aliases = min(self.aliases + times * other.aliases, _CAP)
        self.directives = min(self.directives + times * other.directives, _CAP)
        self.cost = min(self.cost + times * other.cost, _CAP)
        self.repeats = max(self.repeats, other.repeats)
        for key, count in other.keys.items():
            self.keys[key] = min(self.keys[key] + times * count, _CAP)


class _Gate:
    def __init__(self, schema: GraphQLSchema, limits: Limits) -> None:
        self.schema = schema
        self.limits = limits
        self.fragments: dict[str, _Shape] = {}

    def check(self, document: DocumentNode) -> list[GraphQLError]:
        definitions = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        order, nesting, cycle = _fragment_order(definitions)
        if cycle is not None:
            return [_limit_error(f"Fragment '{cycle}' spreads itself.", "fragment_cycle", 0, 1)]
        deepest, limit = max(nesting.values(), default=0), self.limits.max_fragment_nesting
        if deepest > limit:
            message = f"Fragments spread fragments {deepest} deep; the limit is {limit}."
            return [_limit_error(message, "fragment_nesting", limit, deepest)]
        for name in order:  # dependencies first, so every spread finds its shape
            fragment = definitions[name]
            parent = self.schema.get_type(fragment.type_condition.name.value)
            self.fragments[name] = self.scope(fragment.selection_set, parent, 1)
        errors: list[GraphQLError] = []
        for definition in document.definitions:
            if isinstance(definition, OperationDefinitionNode):
                errors += self.check_operation(definition)
        return errors

    def check_operation(self, operation: OperationDefinitionNode) -> list[GraphQLError]:
        root = self.schema.get_root_type(cast(Any, operation.operation))
        shape = self.scope(operation.selection_set, root, 1)
        shape.directives += len(operation.directives or ())
        name = f"'{operation.name.value}'" if operation.name else "The operation"
        lim = self.limits
        count, key = shape.repeats
        checks = [
            ("depth", shape.depth, lim.max_depth, f"{name} is nested too deeply"),
            ("aliases", shape.aliases, lim.max_aliases, f"{name} uses {shape.aliases} aliases"),
            (
                "directives",
                shape.directives,
                lim.max_directives,
                f"{name} uses {shape.directives} directives",
            ),
            (
                "field_repeats",
                count,
                lim.max_field_repeats,
                f"{name} selects '{key}' {count} times in one selection set",
            ),
            (
                "cost",
                shape.cost,
                lim.max_cost,
                f"{name} costs {shape.cost} (1 per field, times the page size of the lists "
                "above it); ask for fewer fields or smaller pages",
            ),
        ]
        return [
            _limit_error(
                f"{text}: more than {limit} fields."
                if kind == "depth"
                else f"{text}; the limit is {limit}.",
                kind,
                limit,
                actual,
            )
            for kind, actual, limit, text in checks
            if actual > limit
        ]

    def scope(
        self, selection_set: SelectionSetNode, parent: GraphQLNamedType | None, level: int
    ) -> _Shape:
        """The shape of a selection set whose fields sit ``level`` fields below the root."""
        shape = _Shape()
        spreads: Counter[str] = Counter()
        for selection in selection_set.selections:
            shape.directives += len(selection.directives or ())
            if isinstance(selection, FieldNode):
                self.add_field(shape, selection, parent, level)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = self.schema.get_type(condition.name.value) if condition else parent
                shape.merge(self.scope(selection.selection_set, inner, level))
            elif isinstance(selection, FragmentSpreadNode):
                spreads[selection.name.value] += 1
        for name, times in spreads.items():  # a fragment spread n times is merged once, times n
            spread = self.fragments.get(name)
            if spread is not None:  # unknown fragments are a validation error
                shape.merge(_shifted(spread, level - 1), times)
        if shape.keys:
            key, count = shape.keys.most_common(1)[0]
            shape.repeats = max(shape.repeats, (count, key))
        return shape

    def add_field(
        self, shape: _Shape, node: FieldNode, parent: GraphQLNamedType | None, level: int
    ) -> None:
        name = node.name.value
        shape.keys[node.alias.value if node.alias else name] += 1
        shape.aliases += node.alias is not None
        if name in _UNCOSTED:
            return
        definition = _field(parent, name)
        cost, depth = 1, level
        if node.selection_set is not None and level <= self.limits.max_depth:
            child_type = get_named_type(definition.type) if definition else None
            child = self.scope(node.selection_set, child_type, level + 1)
            cost = min(1 + _page_size(node, definition) * child.cost, _CAP)
            depth = max(depth, child.depth)
            shape.aliases = min(shape.aliases + child.aliases, _CAP)
            shape.directives = min(shape.directives + child.directives, _CAP)
            shape.repeats = max(shape.repeats, child.repeats)
        elif node.selection_set is not None:
            depth = level + 1  # already too deep: no need to look further down
        shape.cost = min(shape.cost + cost, _CAP)
        shape.depth = max(shape.depth, depth)


def _shifted(fragment: _Shape, levels: int) -> _Shape:
    """A fragment's shape as seen from ``levels`` fields below the root."""
    depth = fragment.depth + levels if fragment.depth else 0
    return _Shape(
        depth, fragment.aliases, fragment.directives, fragment.cost, fragment.repeats, fragment.keys
    )


def _field(parent: GraphQLNamedType | None, name: str) -> GraphQLField | None:
    if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
        found: GraphQLField | None = parent.fields.get(name)
        return found
    return None


def _page_size(node: FieldNode, definition: GraphQLField | None) -> int:
    """How many items a field with a ``first`` argument may return; 1 for other fields."""
    if definition is None or "first" not in definition.args:
        return 1
    for argument in node.arguments or ():
        if argument.name.value == "first":
            if isinstance(argument.value, IntValueNode):
                return max(1, min(int(argument.value.value), MAX_PAGE))
            return MAX_PAGE  # a variable (or an invalid literal): assume the worst
    default = definition.args["first"].default_value
    return min(default, MAX_PAGE) if isinstance(default, int) else DEFAULT_PAGE


def _spreads(selection_set: SelectionSetNode) -> Iterator[str]:
    stack = [selection_set]
    while stack:
        for selection in stack.pop().selections:
            if isinstance(selection, FragmentSpreadNode):
                yield selection.name.value
            elif isinstance(selection, FieldNode | InlineFragmentNode) and selection.selection_set:
                stack.append(selection.selection_set)


def _fragment_order(
    fragments: dict[str, FragmentDefinitionNode],
) -> tuple[list[str], dict[str, int], str | None]:
    """Fragments, each after the ones it spreads, with how deep their spreads nest; or the
    name of one that spreads itself.

    Iterative, so a chain of hundreds of fragments cannot exhaust the interpreter's stack.
    """
    spreads = {name: [s for s in _spreads(f.selection_set) if s in fragments]
               for name, f in fragments.items()}  # fmt: skip
    order: list[str] = []
    nesting: dict[str, int] = {}
    done: set[str] = set()
    visiting: set[str] = set()
    for root in fragments:
        if root in done:
            continue
        stack = [(root, iter(spreads[root]))]
        visiting.add(root)
        while stack:
            name, children = stack[-1]
            for child in children:
                if child in visiting:
                    return order, nesting, child
                if child not in done:
                    visiting.add(child)
                    stack.append((child, iter(spreads[child])))
                    break
            else:
                stack.pop()
                visiting.discard(name)
                done.add(name)
                order.append(name)
                nesting[name] = 1 + max((nesting[c] for c in spreads[name]), default=0)
    return order, nesting, None


def _limit_error(message: str, limit: str, maximum: int, actual: int) -> GraphQLError:
    return GraphQLError(
        message,
        extensions={"code": "limit_exceeded", "limit": limit, "max": maximum, "actual": actual},
    )


def check_limits(
    schema: GraphQLSchema, document: DocumentNode, limits: Limits
) -> list[GraphQLError]:
    """The gate alone: errors for every limit the document's operations exceed."""
    return _Gate(schema, limits).check(document)
