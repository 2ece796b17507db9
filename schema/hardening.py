"""Hardening of the GraphQL surface: operation limits, error masking and GraphQL-over-HTTP.

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

Gate and validation results are cached per document (an LRU keyed by the document and the
rules, which are built once), so repeated operations validate once.
"""

from __future__ import annotations

import functools
import json
from collections import Counter
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, cast

from cross_web import AsyncHTTPRequestAdapter, HTTPException
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
    validate,
)
from graphql.validation import ASTValidationRule, NoSchemaIntrospectionCustomRule
from starlette.requests import Request
from starlette.responses import Response
from strawberry.asgi import GraphQL
from strawberry.exceptions import MissingQueryError
from strawberry.extensions import MaskErrors, SchemaExtension
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.parse_content_type import parse_content_type
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType as Operation

from api.errors import LeadgateError
from api.settings import Settings
from schema.context import Context
from schema.pagination import DEFAULT_PAGE, MAX_PAGE

if TYPE_CHECKING:
    from starlette.types import Receive, Scope, Send

INTERNAL_ERROR: Final = "Internal server error"
GRAPHQL_RESPONSE_JSON: Final = "application/graphql-response+json"
JSON: Final = "application/json"
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


# --- the extension: parse options, gate and validation, cached ------------------------------


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
            extra += (NoSchemaIntrospectionCustomRule,)
        return cls(Limits.from_settings(settings), extra, hide_suggestions=not settings.dev)


@functools.lru_cache(maxsize=256)
def _validate(
    schema: GraphQLSchema,
    document: DocumentNode,
    rules: tuple[type[ASTValidationRule], ...],
    policy: Policy,
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

    def on_operation(self) -> Iterator[None]:
        limits = self.policy.limits
        # strawberry types parse_options for the deprecated `max_tokens` only; graphql-core
        # 3.3 splits it into tokens, comments and source length.
        options = cast(MutableMapping[str, int], self.execution_context.parse_options)
        options["max_lexical_tokens"] = limits.max_tokens
        options["max_comments"] = limits.max_comments
        options["max_source_length"] = limits.max_query_length
        yield

    def on_validate(self) -> Iterator[None]:
        ctx = self.execution_context
        if ctx.graphql_document is not None and ctx.pre_execution_errors is None:
            rules = tuple(ctx.validation_rules)
            errors = _validate(ctx.schema._schema, ctx.graphql_document, rules, self.policy)
            ctx.pre_execution_errors = list(errors)
        yield


def should_mask_error(error: GraphQLError) -> bool:
    """Hide unexpected exceptions; keep GraphQL, input and Leadgate errors readable."""
    original = error.original_error
    if original is None or isinstance(original, GraphQLError | LeadgateError):
        return False
    # before execution (no path) a ValueError/TypeError comes from coercing the caller's input
    return not (error.path is None and isinstance(original, ValueError | TypeError))


class MaskInternalErrors(MaskErrors):
    """strawberry's MaskErrors with our predicate and a stable code for clients."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=should_mask_error, error_message=INTERNAL_ERROR)

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        return GraphQLError(
            INTERNAL_ERROR,
            nodes=error.nodes,
            path=error.path,
            extensions={"code": "internal_error"},
        )


def hardening_extensions(settings: Settings) -> list[Callable[[], SchemaExtension]]:
    """Schema extensions, as factories: one fresh instance per request, rules built once."""
    policy = Policy.from_settings(settings)
    return [functools.partial(OperationLimits, policy), MaskInternalErrors]


# --- GraphQL over HTTP -------------------------------------------------------------------------


class _HTTPError(HTTPException):
    def __init__(self, status_code: int, reason: str, headers: dict[str, str] | None = None):
        super().__init__(status_code, reason)
        self.headers = headers or {}


def negotiate(accept: str | None) -> str | None:
    """The response media type for an Accept header, or None when we can serve none it allows.

    ``application/graphql-response+json`` when asked for; ``application/json`` for it, for
    wildcards and when no Accept header is sent (legacy clients).
    """
    if not accept or not accept.strip():
        return JSON
    offers = {GRAPHQL_RESPONSE_JSON: GRAPHQL_RESPONSE_JSON, JSON: JSON,
              "application/*": JSON, "*/*": JSON}  # fmt: skip
    best: tuple[float, int, str] | None = None
    for index, item in enumerate(accept.split(",")):
        media, *params = (part.strip() for part in item.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        offer = offers.get(media.lower())
        if offer is not None and quality > 0 and (best is None or (quality, -index) > best[:2]):
            best = (quality, -index, offer)
    return best[2] if best else None


def _json_too_deep(value: object, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children: Any
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _is_request_error(result: ExecutionResult) -> bool:
    """Rejected before execution: no data, and no error points into a result path."""
    return (
        result.data is None
        and bool(result.errors)
        and all(error.path is None for error in result.errors or ())
    )


class GraphQLOverHTTP(GraphQL[Context, None]):
    """strawberry's ASGI view, made to follow the GraphQL-over-HTTP specification.

    - ``application/graphql-response+json`` when the client accepts it; then requests rejected
      before execution (parse and validation errors) answer 400, executed ones 200;
      ``application/json`` answers 200 as legacy clients expect; 406 when neither is accepted;
    - POST bodies must be ``application/json`` (415 otherwise), JSON objects, nested at most
      ``Limits.max_json_depth``; a mutation over GET answers 405 with ``Allow: POST``;
    - errors the view raises itself are GraphQL-shaped JSON, not plain text.
    """

    limits = Limits()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope, receive)
        media = negotiate(request.headers.get("accept"))
        try:
            if media is None and not self._wants_ide(request):
                raise _HTTPError(406, f"Acceptable media types: {GRAPHQL_RESPONSE_JSON}, {JSON}")
            response = await self.run(request)
        except HTTPException as exc:
            response = _error_response(exc, media or JSON)
        else:
            self._finish(request, response, media or JSON)
        await response(scope, receive, send)

    @staticmethod
    def _wants_ide(request: Request) -> bool:
        """A browser opening the endpoint: strawberry serves the IDE, or 404 when it is off."""
        return request.method == "GET" and "text/html" in request.headers.get("accept", "")

    @staticmethod
    def _finish(request: Request, response: Response, media: str) -> None:
        if media != GRAPHQL_RESPONSE_JSON:
            return
        if not response.headers.get("content-type", "").startswith(JSON):
            return  # the IDE page or a stream
        response.headers["content-type"] = f"{GRAPHQL_RESPONSE_JSON}; charset=utf-8"
        if getattr(request.state, "graphql_request_error", False) and response.status_code == 200:
            response.status_code = 400

    def parse_json(self, data: str | bytes) -> Any:
        try:
            value = self.decode_json(data)
        except (ValueError, RecursionError) as exc:  # JSONDecodeError, 4300+ digit numbers
            raise HTTPException(400, "Unable to parse request body as JSON") from exc
        if not isinstance(value, dict | list):
            raise HTTPException(400, "The request body must be a JSON object")
        if _json_too_deep(value, self.limits.max_json_depth):
            raise HTTPException(400, f"JSON nests deeper than {self.limits.max_json_depth} levels")
        return value

    async def parse_http_body(
        self, request: AsyncHTTPRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        if request.method == "POST":
            content_type, _ = parse_content_type(request.content_type or "")
            if content_type != JSON:
                raise _HTTPError(
                    415, f"Send the operation as {JSON}", headers={"Accept-Post": JSON}
                )
        return await super().parse_http_body(request)

    async def execute_single(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,
        context: Context,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        """strawberry's, with GET limited to queries and no subscriptions over plain HTTP."""
        method = request_adapter.method
        allowed = {Operation.QUERY} if method == "GET" else {Operation.QUERY, Operation.MUTATION}
        try:
            return await self.schema.execute(
                request_data.query,
                root_value=root_value,
                variable_values=request_data.variables,
                context_value=context,
                operation_name=request_data.operation_name,
                allowed_operation_types=allowed,
                operation_extensions=request_data.extensions,
            )
        except InvalidOperationTypeError as exc:
            if exc.operation_type is Operation.SUBSCRIPTION:
                raise HTTPException(400, "Subscribe over WebSocket (graphql-transport-ws)") from exc
            reason = exc.as_http_error_reason(method)
            raise _HTTPError(405, reason, headers={"Allow": "POST"}) from exc
        except CannotGetOperationTypeError as exc:
            raise HTTPException(400, exc.as_http_error_reason()) from exc
        except MissingQueryError as exc:
            raise HTTPException(400, "No GraphQL query found in the request") from exc

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        response = await super().process_result(request, result)
        if _is_request_error(result):
            request.state.graphql_request_error = True
        return response


def _error_response(exc: HTTPException, media: str) -> Response:
    body = json.dumps({"errors": [{"message": exc.reason}]}, separators=(",", ":"))
    content_type = f"{GRAPHQL_RESPONSE_JSON}; charset=utf-8" if media != JSON else JSON
    headers = exc.headers if isinstance(exc, _HTTPError) else {}
    return Response(body, status_code=exc.status_code, headers=headers, media_type=content_type)
