"""The one pattern for expected failures: every mutation payload carries ``userErrors``."""

from __future__ import annotations

import strawberry

from api.errors import LeadgateError


@strawberry.type(description="An expected failure the caller can fix: what, where, and how.")
class UserError:
    code: str = strawberry.field(description="Stable machine-readable code, e.g. invalid_input")
    message: str = strawberry.field(description="What was wrong, for humans")
    field: list[str] | None = strawberry.field(
        description="Path of the input field at fault, e.g. ['input', 'email']"
    )
    suggestion: str | None = strawberry.field(description="What would be valid instead")


def user_error(exc: LeadgateError, *, prefix: tuple[str, ...] = ("input",)) -> UserError:
    path = [*prefix, *exc.field.split(".")] if exc.field else None
    return UserError(code=exc.code, message=exc.message, field=path, suggestion=exc.suggestion)
