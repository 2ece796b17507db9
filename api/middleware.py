"""Pure ASGI middleware: no buffering, no Starlette request objects."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_REQUEST_ID = re.compile(rb"[A-Za-z0-9._-]{1,64}")
request_log = logging.getLogger("leadgate.request")
CLIENT_CLOSED = 499
"""Logged for a request whose client went away before any answer (nginx's convention): not a
server error, so it must not count as a 500 in logs and alerts."""


class RequestContext:
    """Gives every HTTP request an id (the caller's ``X-Request-ID`` when it is sane), binds it
    to the log context, returns it in the response, and logs one line when the request ends."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers", ())).get(b"x-request-id", b"")
        request_id = given.decode() if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        status: int | None = None  # until the answer starts
        gone = False
        started = time.perf_counter()

        async def receive_watched() -> Message:
            nonlocal gone
            message = await receive()
            gone = gone or message["type"] == "http.disconnect"
            return message

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive_watched, send_with_id)
        finally:
            if status is None:  # no answer: the client left, or the app failed before one
                status = CLIENT_CLOSED if gone else 500
            request_log.info(
                "%s %s %s",
                scope["method"],
                scope["path"],
                status,
                extra={
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )
            structlog.contextvars.clear_contextvars()


class _TooLarge(Exception):
    """Raised inside ``receive`` once a body has passed the limit; caught by the middleware."""


class BodySizeLimit:
    """Answers 413 to HTTP requests whose body exceeds ``max_body_bytes``.

    A declared ``Content-Length`` above the limit is refused before the body is read. Bodies
    without one (chunked) are counted as they stream in and cut off at the limit, so nothing
    ever holds more than the limit plus one chunk.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            await self._refuse(send)
            return

        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise _TooLarge
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, watched_send)
        except _TooLarge:
            if started:  # the app answered before reading everything: nothing left to say
                return
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        # connection: close, as the rest of the body is never read
        message = f"Request body exceeds {self.max_body_bytes} bytes"
        await _send_error(send, 413, message, "body_too_large")


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server rejects malformed framing before we see it
    return None


class _TooSlow(Exception):
    """Raised inside ``receive`` once a body has taken longer than allowed."""


class BodyReadTimeout:
    """Answers 408 (and closes the connection) when a request body takes longer than
    ``timeout_s`` to arrive in full, counted from the first ``receive``: a client trickling
    a byte at a time cannot hold a connection and a request task open."""

    def __init__(self, app: ASGIApp, timeout_s: float) -> None:
        self.app = app
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        deadline: float | None = None
        done = False
        started = False

        async def timed_receive() -> Message:
            nonlocal deadline, done
            if done:
                return await receive()  # the body is in: later receives wait for disconnect
            deadline = deadline or time.monotonic() + self.timeout_s
            try:
                async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                    message = await receive()
            except TimeoutError:
                raise _TooSlow from None
            done = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, timed_receive, watched_send)
        except _TooSlow:
            if not started:
                await _send_error(send, 408, "Request body not received in time", "request_timeout")


async def _send_error(send: Send, status: int, message: str, code: str) -> None:
    """A GraphQL-shaped error response that closes the connection."""
    body = json.dumps({"errors": [{"message": message, "extensions": {"code": code}}]}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
