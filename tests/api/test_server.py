"""Slow clients against a real uvicorn server on 127.0.0.1 (raw sockets): headers and bodies
that trickle in are cut off, and a normal request still gets through."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
import uvicorn
from starlette.applications import Starlette

from api.middleware import BodyReadTimeout
from api.server import HeadWithBody, server_config
from api.settings import Settings

TIMEOUT_S = 0.5
BOUND_S = 3.0  # generous: the server must close well before this


@pytest.fixture
async def address(app: Starlette, settings: Settings) -> AsyncIterator[tuple[str, int]]:
    quick = settings.model_copy(update={"header_timeout_s": TIMEOUT_S})
    # the served app with a short body timeout in front (the app's own uses the settings')
    config = server_config(
        quick,
        BodyReadTimeout(app, timeout_s=TIMEOUT_S),
        host="127.0.0.1",
        port=0,
        lifespan="off",
        log_level="warning",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110  (uvicorn exposes a flag, not an event)
        await asyncio.sleep(0.01)
    yield "127.0.0.1", server.servers[0].sockets[0].getsockname()[1]
    server.should_exit = True
    await task


async def _closed_within(reader: asyncio.StreamReader, trickle: asyncio.StreamWriter) -> bytes:
    """Reads until the server closes, writing a byte every 0.1 s meanwhile; what it said."""
    received = b""
    started = time.monotonic()
    while time.monotonic() - started < BOUND_S:
        try:
            chunk = await asyncio.wait_for(reader.read(4096), 0.1)
        except TimeoutError:
            try:
                trickle.write(b"x")
                await trickle.drain()
            except ConnectionError:
                return received
            continue
        if not chunk:
            return received
        received += chunk
    pytest.fail(f"the server kept a slow connection open for {BOUND_S} s")


async def test_slow_headers_are_cut_off(address: tuple[str, int]) -> None:
    reader, writer = await asyncio.open_connection(*address)
    writer.write(b"POST /graphql HTTP/1.1\r\nHost: leadgate\r\nX-Slow: ")
    said = await _closed_within(reader, writer)
    assert said.startswith(b"HTTP/1.1 408"), said
    writer.close()


async def test_silent_connections_are_closed(address: tuple[str, int]) -> None:
    reader, writer = await asyncio.open_connection(*address)
    started = time.monotonic()
    said = await asyncio.wait_for(reader.read(), BOUND_S)
    assert time.monotonic() - started < BOUND_S
    assert said.startswith(b"HTTP/1.1 408"), said
    writer.close()


async def test_slow_bodies_are_cut_off(address: tuple[str, int]) -> None:
    reader, writer = await asyncio.open_connection(*address)
    writer.write(
        b"POST /graphql HTTP/1.1\r\nHost: leadgate\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100000\r\n\r\n{"
    )
    said = await _closed_within(reader, writer)
    assert said.startswith(b"HTTP/1.1 408"), said
    assert b'"request_timeout"' in said
    writer.close()


async def test_a_prompt_request_is_answered(address: tuple[str, int]) -> None:
    reader, writer = await asyncio.open_connection(*address)
    body = b'{"query": "{ __typename }"}'
    writer.write(
        b"POST /graphql HTTP/1.1\r\nHost: leadgate\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    await writer.drain()
    status = await asyncio.wait_for(reader.readline(), BOUND_S)
    assert status.startswith(b"HTTP/1.1 401"), status  # answered (no key), not timed out
    writer.close()


def test_the_app_bounds_body_reads_with_the_setting(app: Starlette, settings: Settings) -> None:
    timeouts = [m for m in app.user_middleware if m.cls == BodyReadTimeout]  # type: ignore[comparison-overlap]
    assert [m.kwargs["timeout_s"] for m in timeouts] == [settings.body_timeout_s]


class _Transport:
    """Records what a transport was asked to do."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = self.aborted = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str) -> str:
        return f"extra {name}"


async def test_a_response_head_and_body_leave_in_one_write() -> None:
    raw = _Transport()
    corked = HeadWithBody(raw, asyncio.get_running_loop())  # type: ignore[arg-type]
    corked.write(b"HTTP/1.1 200 OK\r\n\r\n")
    assert raw.writes == []
    assert corked.get_write_buffer_size() == 19
    corked.write(memoryview(b"body"))
    assert raw.writes == [b"HTTP/1.1 200 OK\r\n\r\nbody"]
    corked.write(b"alone")  # nothing follows in this step: sent at its end
    await asyncio.sleep(0)
    assert raw.writes[-1] == b"alone"
    assert corked.get_extra_info("socket") == "extra socket"


async def test_closing_sends_what_is_held_and_aborting_drops_it() -> None:
    raw = _Transport()
    corked = HeadWithBody(raw, asyncio.get_running_loop())  # type: ignore[arg-type]
    corked.write(b"last words")
    corked.close()
    assert (raw.writes, raw.closed) == ([b"last words"], True)
    raw = _Transport()
    corked = HeadWithBody(raw, asyncio.get_running_loop())  # type: ignore[arg-type]
    corked.write(b"never")
    corked.abort()
    await asyncio.sleep(0)
    assert (raw.writes, raw.aborted) == ([], True)
