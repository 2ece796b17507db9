"""Log records: long tracebacks keep the lines that name the error, secrets stay masked."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from api.logs import MAX_EVENT, clip, configure_logging
from api.settings import Settings


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """The service's log configuration, writing to a buffer instead of stderr."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging(Settings(log_format="json", log_level="info"))
    buffer = io.StringIO()
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(buffer)
    yield buffer
    root.handlers, root.level = handlers, level


def _deep(n: int) -> None:
    if n == 0:
        raise ValueError("the cause, for ops@example.com")
    _deeper(n - 1)


def _deeper(n: int) -> None:
    _deep(n)  # alternating frames: Python does not fold them into "repeated N more times"


def test_a_long_traceback_keeps_its_last_line(json_log: io.StringIO) -> None:
    try:
        _deep(60)
    except ValueError:
        logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
    record = json.loads(json_log.getvalue().splitlines()[-1])
    exception = record["exception"]
    assert len(exception) < MAX_EVENT + 100
    assert exception.startswith("Traceback (most recent call last)")
    assert exception.rstrip().endswith("ValueError: the cause, for o***@example.com")
    assert "characters left out" in exception


def test_short_values_are_kept_whole() -> None:
    assert clip("x" * MAX_EVENT) == "x" * MAX_EVENT
    clipped = clip("a" * 1_000 + "b" * 5_000)
    assert clipped.startswith("a" * 400)
    assert clipped.endswith("b" * 1_600)
    assert "4,000 characters left out" in clipped
