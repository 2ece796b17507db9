"""The uvicorn server `leadgate serve` runs, with slow clients timed out.

uvicorn bounds the idle time between requests (keep-alive) but not the time a client takes to
send its request line and headers: a connection that trickles a header byte every few seconds,
or never sends one, stays open forever. ``HeaderTimeoutProtocol`` closes a connection whose
headers are not complete ``header_timeout_s`` after the connection opened (or after the
previous request of a keep-alive connection), answering 408. Slow bodies are bounded by
``api.middleware.BodyReadTimeout``.

uvicorn writes a response's status line and headers, then its body, as two writes: two
syscalls and two TCP segments per answer. ``HeadWithBody`` holds a write until the next one
(the body, written in the same step) or the end of the event loop's step, so a response
leaves in one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from api.settings import Settings

_BODY = b'{"errors":[{"message":"Request timeout","extensions":{"code":"request_timeout"}}]}'
_REQUEST_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
    b"connection: close\r\ncontent-length: %d\r\n\r\n%s" % (len(_BODY), _BODY)
)


class HeadWithBody:
    """A transport whose writes are held until the next write or the end of the loop's step,
    then sent as one. Anything else is the wrapped transport's; closing (or ``write_eof``)
    sends what is held first, aborting drops it, as the transport's own buffer would."""

    __slots__ = ("_held", "_loop", "transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self.transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        held = self._held
        if held is None:
            self._held = bytes(data)
            self._loop.call_soon(self.flush)
            return
        self._held = None
        self.transport.write(held + data)

    def writelines(self, lines: Iterable[bytes | bytearray | memoryview]) -> None:
        self.write(b"".join(lines))

    def flush(self) -> None:
        held, self._held = self._held, None
        if held is not None and not self.transport.is_closing():
            self.transport.write(held)

    def get_write_buffer_size(self) -> int:
        return self.transport.get_write_buffer_size() + len(self._held or b"")

    def write_eof(self) -> None:
        self.flush()
        self.transport.write_eof()

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def abort(self) -> None:
        self._held = None
        self.transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


class HeaderTimeoutProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline on request lines and headers, and each
    response written at once (``HeadWithBody``)."""

    header_timeout_s: float = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        corked = HeadWithBody(transport, self.loop)
        super().connection_made(corked)  # type: ignore[arg-type]
        self._header_timer: asyncio.TimerHandle | None = None
        self._arm_header_timer()

    def handle_websocket_upgrade(self) -> None:
        """A WebSocket gets the socket's own transport (nothing is held before an upgrade)."""
        transport = self.transport
        if isinstance(transport, HeadWithBody):
            transport.flush()
            self.transport = transport.transport
        super().handle_websocket_upgrade()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._header_timer is None:
            self._arm_header_timer()

    def on_headers_complete(self) -> None:
        self._disarm_header_timer()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        super().connection_lost(exc)

    def _arm_header_timer(self) -> None:
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._header_timeout)

    def _disarm_header_timer(self) -> None:
        timer, self._header_timer = getattr(self, "_header_timer", None), None
        if timer is not None:
            timer.cancel()

    def _header_timeout(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.write(_REQUEST_TIMEOUT)
            self.transport.close()


def protocol_class(header_timeout_s: float) -> type[HeaderTimeoutProtocol]:
    """A protocol class bound to this timeout (uvicorn takes a class, not an instance)."""
    return type(
        "LeadgateHttpProtocol", (HeaderTimeoutProtocol,), {"header_timeout_s": header_timeout_s}
    )


def server_config(settings: Settings, app: Any, **overrides: Any) -> uvicorn.Config:
    """The uvicorn configuration for ``app`` (an ASGI app or an import string)."""
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        "http": protocol_class(settings.header_timeout_s),
        "timeout_keep_alive": max(1, round(settings.keep_alive_timeout_s)),
        "log_config": None,  # api/logs.py formats every record
        "access_log": False,  # RequestContext logs each request with its id
        **overrides,
    }
    return uvicorn.Config(app, **options)
