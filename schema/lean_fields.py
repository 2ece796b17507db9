"""Fields resolved without strawberry's per-field machinery where none of it applies.

A list page resolves ~500 fields (50 leads, ~10 each), and graphql-core plus strawberry's wrapper
cost more per field than the data: for every field with a resolver strawberry builds an
``Info``, converts (absent) arguments, chains (absent) field extensions; for every field,
graphql-core builds a resolve info and a ``Path`` and completes the value through the type
tree. Two changes, applied once per schema, that keep every answer (data and errors) as it was:

- **Lean resolvers.** A field whose resolver takes no GraphQL arguments and has no field
  extensions (no permission classes) and no exception handlers calls the resolver directly,
  with a strawberry ``Info`` only when the resolver asks for one. Root fields keep their
  resolvers (schema/root_guards.py wraps them).
- **Leaf attributes.** A scalar or enum field without a resolver is read and serialised in the
  executor (``LeanExecutor``) without a resolve info; anything unusual (no such attribute, a
  null, a value the type refuses, middleware) goes through graphql-core's own path, which
  raises or reports exactly as before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import strawberry
from graphql import (
    GraphQLField,
    GraphQLLeafType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLResolveInfo,
    is_leaf_type,
)
from graphql.pyutils import Path, Undefined, gather_with_cancel
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField

LEAF: Final = "leadgate-leaf"
"""Key in a ``GraphQLField``'s extensions: (attribute, leaf type) of a plain leaf field."""

_BACKREF: Final = GraphQLCoreConverter.DEFINITION_BACKREF


def lean_fields(schema: strawberry.Schema) -> int:
    """Rewire the schema's non-root fields; returns how many fields were changed."""
    graphql_schema = schema._schema
    roots = {graphql_schema.query_type, graphql_schema.mutation_type}
    roots.add(graphql_schema.subscription_type)
    info_class = schema.config.info_class
    changed = 0
    for named in graphql_schema.type_map.values():
        if not isinstance(named, GraphQLObjectType) or named in roots:
            continue
        if named.name.startswith("__"):
            continue
        for field in named.fields.values():
            definition = field.extensions.get(_BACKREF)
            if not isinstance(definition, StrawberryField):
                continue
            if schema.schema_converter._get_field_exception_handlers(definition):
                continue
            if getattr(field.resolve, "_is_default", False):
                changed += _mark_leaf(field, definition)
            elif (resolve := _lean_resolver(definition, info_class)) is not None:
                field.resolve = resolve
                changed += 1
    return changed


def _mark_leaf(field: GraphQLField, definition: StrawberryField) -> int:
    if definition.extensions or definition.base_resolver is not None:
        return 0
    of_type = field.type.of_type if isinstance(field.type, GraphQLNonNull) else field.type
    if not is_leaf_type(of_type) or definition.python_name is None:
        return 0
    field.extensions = {**field.extensions, LEAF: (definition.python_name, of_type)}
    return 1


def _lean_resolver(
    definition: StrawberryField, info_class: type[strawberry.Info]
) -> Callable[..., Any] | None:
    resolver = definition.base_resolver
    if resolver is None or definition.extensions or definition.arguments:
        return None
    if resolver.self_parameter is None or resolver.root_parameter or resolver.parent_parameter:
        return None  # static methods and root/parent parameters: strawberry's path
    func: Callable[..., Any] = resolver.wrapped_func  # type: ignore[assignment]
    info = resolver.info_parameter
    if info is None:

        def resolve(source: Any, _info: GraphQLResolveInfo[Any]) -> Any:
            return func(source)

        return resolve

    name = info.name

    def resolve_with_info(source: Any, raw: GraphQLResolveInfo[Any]) -> Any:
        return func(source, **{name: info_class(_raw_info=raw, _field=definition)})

    return resolve_with_info


class LeanExecutor(StrawberryGraphQLCoreExecutionContext):
    """strawberry's executor, with plain leaf fields read and serialised in place (no resolve
    info, no ``Path``). ``execute_fields`` is graphql-core 3.3's loop (strawberry pins the
    version range) with that shortcut in front of ``execute_field``."""

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: Any,
        position_context: Any,
    ) -> Any:
        middleware = self.middleware_manager
        if middleware is not None and middleware.middlewares:
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        results: dict[str, Any] = {}
        is_awaitable = self.is_awaitable
        awaitable_fields: list[str] = []
        fields = parent_type.fields
        try:
            for response_name, field_details_list in grouped_field_set.items():
                field = fields.get(field_details_list[0].node.name.value)
                leaf = field.extensions.get(LEAF) if field is not None else None
                if leaf is not None:
                    value = _leaf_value(source_value, leaf)
                    if value is not None:
                        results[response_name] = value
                        continue
                result = self.execute_field(
                    parent_type,
                    source_value,
                    field_details_list,
                    Path(path, response_name, parent_type.name),
                    position_context,
                )
                if result is not Undefined:
                    results[response_name] = result
                    if is_awaitable(result):
                        awaitable_fields.append(response_name)
        except Exception:
            if awaitable_fields:
                self.settle_in_background([results[field] for field in awaitable_fields])
            raise
        if not awaitable_fields:
            return results

        async def get_results() -> dict[str, Any]:
            if len(awaitable_fields) == 1:
                name = awaitable_fields[0]
                results[name] = await results[name]
            else:
                awaited = await gather_with_cancel(*(results[f] for f in awaitable_fields))
                results.update(zip(awaitable_fields, awaited, strict=True))
            return results

        return get_results()


def _leaf_value(source: Any, leaf: tuple[str, GraphQLLeafType]) -> Any:
    """The serialised value, or None for graphql-core's own path (a null, a missing attribute,
    a value the type refuses: it raises or reports them as it always did)."""
    try:
        value = getattr(source, leaf[0])
        if value is None:
            return None
        coerced = leaf[1].coerce_output_value(value)
    except Exception:
        return None
    return None if coerced is Undefined else coerced
