"""Column limits for GraphQL input, read from the models: the one place lengths come from.

An input field is looked up, in order: in the model its input type writes (``INPUT_MODELS``),
as an explicitly named column (``COLUMNS``: an input name that differs from its column), then
as the tightest column of that name in any model. Free text with no column of its own is
bounded by ``MAX_TEXT``.
"""

from __future__ import annotations

import functools
from decimal import Decimal
from typing import Any, Final

from tortoise import fields
from tortoise.models import Model

from api import models

MAX_TEXT: Final = 10_000
"""Characters of free text (notes, reasons) with no length-limited column."""
MAX_DECIMAL: Final = Decimal(10) ** 14
"""Magnitude of a decimal with no column: the 16,2 money columns' bound."""

INPUT_MODELS: dict[str, type[Model]] = {
    "UpsertLeadInput": models.Lead,
    "CompanyInput": models.Account,
    "ActivityInput": models.Activity,
    "CreateDealInput": models.Deal,
    "UpdateDealInput": models.Deal,
    "CreateApiKeyInput": models.ApiKey,
    "RevokeApiKeyInput": models.ApiKey,
    "SetGoalInput": models.Goal,
}
COLUMNS: dict[str, tuple[type[Model], str]] = {
    "idempotencyKey": (models.IdempotencyRecord, "key"),
    "campaignKey": (models.Campaign, "key"),
    "website": (models.Account, "domain"),
    "repEmail": (models.SalesRep, "email"),
    "reason": (models.Feedback, "reason_code"),
}
FREE_TEXT: frozenset[tuple[str, str]] = frozenset({("ReopenDealInput", "reason")})
"""Input fields stored as free text (in an event payload), bounded by ``MAX_TEXT``."""


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def _column(owner: str | None, name: str) -> list[fields.Field[Any]]:
    if (owner, name) in FREE_TEXT:
        return []
    snake = _snake(name)
    model = INPUT_MODELS.get(owner or "")
    if model is not None and snake in model._meta.fields_map:
        return [model._meta.fields_map[snake]]
    if name in COLUMNS:
        model, column = COLUMNS[name]
        return [model._meta.fields_map[column]]
    return [
        m._meta.fields_map[snake]
        for m in (getattr(models, n) for n in dir(models))
        if isinstance(m, type) and issubclass(m, Model) and snake in m._meta.fields_map
    ]


@functools.cache
def string_limit(owner: str | None, name: str) -> int:
    """Most characters the column behind input field ``name`` of type ``owner`` holds."""
    lengths = [
        f.max_length for f in _column(owner, name) if isinstance(f, fields.CharField)
    ]  # fmt: skip
    return min(lengths, default=MAX_TEXT)


@functools.cache
def decimal_bound(owner: str | None, name: str) -> Decimal:
    """Exclusive magnitude bound of the decimal column behind input field ``name``."""
    bounds = [
        Decimal(10) ** (f.max_digits - f.decimal_places)
        for f in _column(owner, name)
        if isinstance(f, fields.DecimalField)
    ]
    return min(bounds, default=MAX_DECIMAL)
