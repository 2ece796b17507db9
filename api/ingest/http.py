"""``POST /ingest/segment``: the Segment HTTP tracking API, authenticated by an API key.

Segment libraries send the write key as HTTP Basic user name (empty password); Leadgate takes
an integration (or admin) API key there, or as ``Authorization: Bearer``.
"""

from __future__ import annotations

import base64
import binascii
import json

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from api.auth import Principal, authenticate
from api.enums import Role
from api.errors import LeadgateError, PermissionDenied
from api.ingest.segment import CALL_TYPES, error_json
from api.ingest.service import ingest

ALLOWED = frozenset({Role.INTEGRATION, Role.ADMIN})


async def _principal(request: Request) -> Principal:
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    token = credentials.strip()
    if scheme.lower() == "basic":
        try:
            token = base64.b64decode(token, validate=True).decode().partition(":")[0]
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise PermissionDenied("malformed Basic credentials") from exc
    elif scheme.lower() != "bearer" or not token:
        raise PermissionDenied(
            "missing API key",
            suggestion="send the key as the Basic user name (Segment's write key) or as Bearer",
        )
    return await authenticate(token)


async def segment_endpoint(request: Request) -> Response:
    """One call or a batch; 200 with a result per item unless the whole request is unusable."""
    try:
        principal = await _principal(request)
    except LeadgateError as exc:
        return JSONResponse({"success": False, "error": error_json(exc)}, status_code=401)
    if principal.role not in ALLOWED:
        refused = PermissionDenied(
            f"role {principal.role} may not ingest events",
            suggestion="use a key with role integration",
        )
        return JSONResponse({"success": False, "error": error_json(refused)}, status_code=403)
    try:
        body = json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return JSONResponse(
            {"success": False, "error": {"code": "invalid_input", "message": "body is not JSON",
                                         "field": "body", "suggestion": None}},
            status_code=400,
        )  # fmt: skip
    implied = request.path_params.get("call")
    try:
        result = await ingest(
            body=body,
            event_types=request.app.state.segment_event_types,
            engine=request.app.state.engine,
            implied_type=implied if implied in CALL_TYPES else None,
        )
    except LeadgateError as exc:
        return JSONResponse({"success": False, "error": error_json(exc)}, status_code=400)
    return JSONResponse(result.as_json())


ROUTES = [
    Route("/ingest/segment", segment_endpoint, methods=["POST"]),
    # Segment SDKs post to <host>/v1/<call>: point their host at <leadgate>/ingest/segment.
    Route("/ingest/segment/v1/{call:str}", segment_endpoint, methods=["POST"]),
]
