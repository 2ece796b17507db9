"""Per-operation request metrics and the log context's ``operation`` (see api/telemetry.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import structlog
from strawberry.extensions import SchemaExtension

from api.telemetry import LATENCY, REQUESTS, operation_label


class Telemetry(SchemaExtension):
    """Counts every operation by name, type and outcome, and times it."""

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        yield
        ctx = self.execution_context
        name = operation_label(ctx.operation_name)
        structlog.contextvars.bind_contextvars(operation=name)
        try:
            kind = ctx.operation_type.value
        except Exception:  # no parsable document: no operation type
            kind = "unknown"
        errors = getattr(ctx.result, "errors", None) or []
        outcome = (errors[0].extensions or {}).get("code", "error") if errors else "ok"
        REQUESTS.labels(operation=name, type=kind, outcome=str(outcome)).inc()
        LATENCY.labels(operation=name).observe(time.perf_counter() - started)
