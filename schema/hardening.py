"""Hardening of the GraphQL execution: the gate and validation in one cached step, and error
masking (unexpected exceptions never reach clients).

Parsing, the gate and validation are cached per query text: a client repeating an operation
(the usual case: the same query string, other variables) is parsed and validated once. The
cache is keyed by the text (a hash of a string), not by the document: graphql-core's AST nodes
are frozen dataclasses whose hash walks the whole tree on every look-up.
"""

from __future__ import annotations

import functools
import re
from collections import OrderedDict
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from typing import Final, cast

from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    GraphQLSchema,
    GraphQLSyntaxError,
    get_named_type,
    is_introspection_type,
    validate,
)
from graphql.validation import ASTValidationRule, ValidationRule
from strawberry.extensions import MaskErrors, SchemaExtension
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule

from api.errors import LeadgateError
from api.settings import Settings
from schema.gate import Limits, check_limits
from schema.telemetry import Telemetry

INTERNAL_ERROR: Final = "Internal server error"


class NoIntrospection(ValidationRule):
    """Introspection off, except ``__type(name:) { name }``: whether a type exists, nothing
    about it. GraphQL-over-HTTP clients (and the graphql-http audit) use that query to check
    variables; the schema's fields, arguments and descriptions stay private."""

    def enter_field(self, node: FieldNode, *_args: object) -> None:
        context = self.context
        named = get_named_type(context.get_type())
        parent = context.get_parent_type()
        name = node.name.value
        is_lookup = name == "__type" and parent is context.schema.query_type
        refused = (named is not None and is_introspection_type(named) and not is_lookup) or (
            parent is not None
            and is_introspection_type(parent)
            and name not in ("name", "__typename")
        )
        if refused:
            context.report_error(
                GraphQLError(
                    "GraphQL introspection has been disabled, but the requested query"
                    f" contained the field '{name}'.",
                    node,
                )
            )


@dataclass(frozen=True)
class Policy:
    """Limits and validation rules, built once per schema (so the cache can hit)."""

    limits: Limits
    extra_rules: tuple[type[ASTValidationRule], ...]
    hide_suggestions: bool

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        extra: tuple[type[ASTValidationRule], ...] = (
            MaybeNullValidationRule,
            OneOfInputValidationRule,
        )
        if not settings.dev:
            extra += (NoIntrospection,)
        return cls(Limits.from_settings(settings), extra, hide_suggestions=not settings.dev)


Rules = tuple[type[ASTValidationRule], ...]


@dataclass(eq=False)
class Prepared:
    """A parsed query text and its validation errors per (schema, rules, policy), filled on
    first use."""

    document: DocumentNode
    errors: dict[tuple[GraphQLSchema, Rules, Policy], tuple[GraphQLError, ...]] = field(
        default_factory=dict
    )

    def validated(
        self, schema: GraphQLSchema, rules: Rules, policy: Policy
    ) -> tuple[GraphQLError, ...]:
        key = (schema, rules, policy)
        found = self.errors.get(key)
        if found is None:
            found = self.errors[key] = _check(schema, self.document, rules, policy)
        return found


class Documents:
    """Parsed query texts, least recently used first out. Only texts strawberry parsed without
    error get in: a broken text is parsed once per request, as before, and refused."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._items: OrderedDict[tuple[str, Limits], Prepared] = OrderedDict()

    def get(self, query: str, limits: Limits) -> Prepared | None:
        found = self._items.get((query, limits))
        if found is not None:
            self._items.move_to_end((query, limits))
        return found

    def put(self, query: str, limits: Limits, document: DocumentNode) -> Prepared:
        prepared = self._items[(query, limits)] = Prepared(document)
        while len(self._items) > self.limit:
            self._items.popitem(last=False)
        return prepared


DOCUMENTS: Final = Documents(limit=256)


@functools.lru_cache(maxsize=256)
def _validate(
    schema: GraphQLSchema, document: DocumentNode, rules: Rules, policy: Policy
) -> tuple[GraphQLError, ...]:
    """For a document that did not come from ``DOCUMENTS`` (another extension's, say)."""
    return _check(schema, document, rules, policy)


def _check(
    schema: GraphQLSchema, document: DocumentNode, rules: Rules, policy: Policy
) -> tuple[GraphQLError, ...]:
    if errors := check_limits(schema, document, policy.limits):
        return tuple(errors)  # the specification's rules never see an oversized operation
    return tuple(
        validate(
            schema,
            document,
            (*rules, *policy.extra_rules),
            hide_suggestions=policy.hide_suggestions,
        )
    )


class OperationLimits(SchemaExtension):
    """Parser limits, the gate and validation in one cached step. Pass a factory per schema."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.prepared: Prepared | None = None

    def on_operation(self) -> Iterator[None]:
        limits = self.policy.limits
        # strawberry types parse_options for the deprecated `max_tokens` only; graphql-core
        # 3.3 splits it into tokens, comments and source length.
        options = cast(MutableMapping[str, int], self.execution_context.parse_options)
        options["max_lexical_tokens"] = limits.max_tokens
        options["max_comments"] = limits.max_comments
        options["max_source_length"] = limits.max_query_length
        yield

    def on_parse(self) -> Iterator[None]:
        ctx = self.execution_context
        query, limits = ctx.query, self.policy.limits
        if ctx.graphql_document is not None or not query:
            yield
            return
        self.prepared = DOCUMENTS.get(query, limits)
        if self.prepared is not None:
            ctx.graphql_document = self.prepared.document  # strawberry skips its parse
        yield
        if self.prepared is None and ctx.graphql_document is not None:  # parsed without error
            self.prepared = DOCUMENTS.put(query, limits, ctx.graphql_document)

    def on_validate(self) -> Iterator[None]:
        ctx = self.execution_context
        document = ctx.graphql_document
        if document is not None and ctx.pre_execution_errors is None:
            schema, rules = ctx.schema._schema, tuple(ctx.validation_rules)
            prepared = self.prepared
            if prepared is not None and prepared.document is document:
                errors = prepared.validated(schema, rules, self.policy)
            else:
                errors = _validate(schema, document, rules, self.policy)
            ctx.pre_execution_errors = list(errors)
        yield


def should_mask_error(error: GraphQLError) -> bool:
    """Hide unexpected exceptions; keep GraphQL, input and Leadgate errors readable."""
    original = error.original_error
    if original is None or isinstance(original, GraphQLError | LeadgateError):
        return False
    # before execution (no path) a ValueError/TypeError comes from coercing the caller's input
    return not (error.path is None and isinstance(original, ValueError | TypeError))


_SUGGESTION = re.compile(r"\s*Did you mean .*\?$", re.DOTALL)


def error_code(error: GraphQLError) -> str:
    """The ``extensions.code`` of an error that has none: what kind of mistake it was."""
    original = error.original_error
    if isinstance(original, LeadgateError):
        return original.code
    if isinstance(error, GraphQLSyntaxError):
        return "graphql_parse_failed"
    if error.path is None:
        return "graphql_validation_failed"  # validation and variable coercion
    return "internal_error"


class MaskInternalErrors(MaskErrors):
    """strawberry's MaskErrors with our predicate, and a stable ``extensions.code`` on every
    error; outside dev mode, no "Did you mean" suggestions (they leak enum values and names)."""

    def __init__(self, hide_suggestions: bool = True) -> None:
        super().__init__(should_mask_error=should_mask_error, error_message=INTERNAL_ERROR)
        self.hide_suggestions = hide_suggestions

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        return GraphQLError(
            INTERNAL_ERROR,
            nodes=error.nodes,
            path=error.path,
            extensions={"code": "internal_error"},
        )

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        processed = super()._process_errors(errors)
        for error in processed:
            extensions = dict(error.extensions or {})
            if "code" not in extensions:
                extensions["code"] = error_code(error)
                original = error.original_error
                if isinstance(original, LeadgateError) and original.field:
                    extensions["field"] = original.field.split(".")
                error.extensions = extensions
            if self.hide_suggestions and "Did you mean" in error.message:
                error.message = _SUGGESTION.sub("", error.message)
        return processed


def hardening_extensions(settings: Settings) -> list[Callable[[], SchemaExtension]]:
    """Schema extensions, as factories: one fresh instance per request, rules built once."""
    policy = Policy.from_settings(settings)
    return [
        Telemetry,
        functools.partial(OperationLimits, policy),
        functools.partial(MaskInternalErrors, hide_suggestions=not settings.dev),
    ]
