"""Structured logs (structlog): one JSON object per line in production, a readable line in dev.

Every record, ours and the libraries' (uvicorn, tortoise, strawberry), goes through one
formatter. Records made while a request runs carry its ``request_id``, and once known its
``operation`` and API ``key`` prefix (bound as context variables by api/middleware.py,
api/app.py and schema/telemetry.py). Secrets and personal values are masked on the way out:
an API token keeps only its prefix, an email address only its first letter and domain.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, Final

import structlog
from structlog.typing import Processor

from api.settings import Settings

_EMAIL: Final = re.compile(r"\b([A-Za-z0-9])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})\b")
_TOKEN: Final = re.compile(r"\b(lg_[A-Za-z0-9]+_)[A-Za-z0-9_-]+")
MAX_EVENT: Final = 2_000
"""Characters of one value (tracebacks of internal errors included)."""
_HEAD: Final = 400
"""Of a clipped value, the characters kept from its start; the rest of MAX_EVENT comes from its
end, where a traceback names the error."""


def mask(text: str) -> str:
    """The text without secrets or full personal values."""
    return _EMAIL.sub(r"\1***@\2", _TOKEN.sub(r"\1***", text))


def _redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    event.pop("color_message", None)  # uvicorn's ANSI-coloured copy of the message
    for key, value in event.items():
        if isinstance(value, str):
            masked = mask(value)
            event[key] = clip(masked)
    return event


def clip(text: str) -> str:
    """At most about MAX_EVENT characters: the start and the end, with what was left out."""
    if len(text) <= MAX_EVENT:
        return text
    tail = MAX_EVENT - _HEAD
    return f"{text[:_HEAD]}… [{len(text) - MAX_EVENT:,} characters left out] …{text[-tail:]}"


def json_logs(settings: Settings) -> bool:
    """JSON unless asked otherwise; dev mode defaults to the human format."""
    if settings.log_format == "auto":
        return not settings.dev
    return settings.log_format == "json"


def configure_logging(settings: Settings) -> None:
    """Route every stdlib and structlog record through one structlog formatter on stderr."""
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
    ]
    renderer: Processor = (
        structlog.processors.JSONRenderer()
        if json_logs(settings)
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            _redact,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(settings.log_level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        library = logging.getLogger(name)
        library.handlers = []
        library.propagate = True
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
