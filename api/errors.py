"""One error hierarchy: every expected failure is a ``LeadgateError`` that GraphQL maps to a
typed user error in one place (schema/errors.py)."""

from __future__ import annotations


class LeadgateError(Exception):
    """An expected failure that the caller can act on."""

    code = "error"

    def __init__(
        self, message: str, *, field: str | None = None, suggestion: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.suggestion = suggestion


class InvalidInput(LeadgateError):
    code = "invalid_input"


class NotFound(LeadgateError):
    code = "not_found"


class Conflict(LeadgateError):
    code = "conflict"


class HandoffReassigned(Conflict):
    """A rep acts on a handoff that escalation has taken from them."""

    code = "handoff_reassigned"


class StaleVersion(Conflict):
    code = "stale_version"


class IllegalTransition(LeadgateError):
    code = "illegal_transition"


class IdempotencyMismatch(Conflict):
    code = "idempotency_mismatch"


class PermissionDenied(LeadgateError):
    code = "permission_denied"


class EngineFailure(LeadgateError):
    code = "engine_failure"
