"""How GraphQL errors reach the log: a client's mistake is one line with its values truncated;
only an unexpected exception (an ``internal_error`` for the client) gets a traceback.

strawberry logs every error with its traceback and its full message, so a 900 KB title or a
refused introspection query filled the log (and leaked personal data into it).
"""

from __future__ import annotations

import logging
import traceback
from typing import Final

import strawberry
from graphql import GraphQLError
from strawberry.types import ExecutionContext

from schema.hardening import error_code, should_mask_error

logger = logging.getLogger("leadgate.graphql")
MAX_VALUE: Final = 200
"""Characters of a message (or any value) that reach the log."""


def truncate(text: str, limit: int = MAX_VALUE) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else f"{flat[:limit]}… ({len(flat)} chars)"


def _operation(context: ExecutionContext | None) -> str:
    if context is None:
        return "-"
    return context.operation_name or "anonymous"


def _internal(error: GraphQLError) -> bool:
    return error.original_error is not None and should_mask_error(error)


def log_internal(error: GraphQLError, context: ExecutionContext | None) -> None:
    """An unexpected exception: ERROR, with the traceback (its message truncated)."""
    original = error.original_error
    assert original is not None
    frames = "".join(traceback.format_tb(original.__traceback__))
    logger.error(
        "internal error in %s at %s: %s: %s\n%s",
        _operation(context),
        ".".join(str(p) for p in error.path or ()) or "-",
        type(original).__name__,
        truncate(str(original)),
        frames.rstrip(),
    )


def log_client(errors: list[GraphQLError], context: ExecutionContext | None) -> None:
    """A client's mistakes in one request: one INFO line, the first error and a count."""
    first = errors[0]
    code = (first.extensions or {}).get("code") or error_code(first)
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    logger.info(
        "client error in %s: %s: %s%s", _operation(context), code, truncate(first.message), more
    )


class LeadgateSchema(strawberry.Schema):
    """strawberry's schema with our error logging."""

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        client = [e for e in errors if not _internal(e)]
        for error in errors:
            if _internal(error):
                log_internal(error, execution_context)
        if client:
            log_client(client, execution_context)
