"""GraphQL over HTTP: strawberry's ASGI view made to follow the GraphQL-over-HTTP specification
(media types, status codes, body checks), with every error it raises itself GraphQL-shaped."""

from __future__ import annotations

import functools
import json
import logging
from typing import TYPE_CHECKING, Any, Final

from cross_web import AsyncHTTPRequestAdapter, HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from strawberry.asgi import GraphQL
from strawberry.exceptions import MissingQueryError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.parse_content_type import parse_content_type
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType as Operation

from schema.context import Context
from schema.gate import Limits

if TYPE_CHECKING:
    from starlette.types import Receive, Scope, Send

GRAPHQL_RESPONSE_JSON: Final = "application/graphql-response+json"
JSON: Final = "application/json"
logger = logging.getLogger("leadgate.http")
_DOCUMENT_ERRORS: Final = frozenset(
    {"graphql_parse_failed", "graphql_validation_failed", "limit_exceeded"}
)


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


@functools.lru_cache(maxsize=64)
def _media_type(content_type: str) -> str:
    """The media type of a Content-Type header (clients send a handful of spellings)."""
    return parse_content_type(content_type)[0]


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
    - errors the view raises itself are GraphQL-shaped JSON, not plain text;
    - a client that disconnects before its body arrived gets no answer and no error log.
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
        except ClientDisconnect:
            # The client went away before its body arrived (a load generator stopping, a
            # closed tab): nobody is left to answer, and it is not a server error.
            logger.debug("client went away before sending its request: %s", request.url.path)
            return
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
        """A POST of one operation as a JSON object is read here, its content type parsed once
        (strawberry parses it again, with ``email.message``, on every request); anything else
        (GET, batches, streams, bodies strawberry refuses) goes through strawberry's."""
        if request.method != "POST":
            return await super().parse_http_body(request)
        if _media_type(request.content_type or "") != JSON:
            raise _HTTPError(415, f"Send the operation as {JSON}", headers={"Accept-Post": JSON})
        if self._get_stream_transport_from_headers(request.headers) is not None:
            return await super().parse_http_body(request)
        data = self.parse_json(await request.get_body())
        query = data.get("query") if isinstance(data, dict) else None
        variables = data.get("variables") if isinstance(data, dict) else None
        extensions = data.get("extensions") if isinstance(data, dict) else None
        if (
            not isinstance(data, dict)
            or not isinstance(query, str | None)
            or not isinstance(variables, dict | None)
            or not isinstance(extensions, dict | None)
        ):
            return await super().parse_http_body(request)  # its checks and messages
        return GraphQLRequestData(
            query=query,
            variables=variables,
            operation_name=data.get("operationName"),
            extensions=extensions,
            protocol="http",
        )

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
            codes = {(e.extensions or {}).get("code") for e in result.errors or ()}
            if codes <= _DOCUMENT_ERRORS:  # never executed: no data entry (GraphQL over HTTP)
                response.pop("data", None)
        return response


HTTP_CODES: Final = {
    400: "bad_request",
    401: "unauthenticated",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "body_too_large",
    415: "unsupported_media_type",
    503: "service_unavailable",
}


def _error_response(exc: HTTPException, media: str) -> Response:
    error = {"message": exc.reason, "extensions": {"code": HTTP_CODES.get(exc.status_code, "http")}}
    body = json.dumps({"errors": [error]}, separators=(",", ":"))
    content_type = f"{GRAPHQL_RESPONSE_JSON}; charset=utf-8" if media != JSON else JSON
    headers = exc.headers if isinstance(exc, _HTTPError) else {}
    return Response(body, status_code=exc.status_code, headers=headers, media_type=content_type)
