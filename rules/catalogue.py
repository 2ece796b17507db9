"""The field catalogue: which lead/account fields rule conditions may name, and their types.

The validator checks every condition against this table so that a typo or a string compared with
a number is caught when the rulebook is loaded, not silently at evaluation time (DESIGN.md §4).
"""

from __future__ import annotations

from typing import Literal

FieldType = Literal["string", "number", "boolean"]

LEAD_FIELDS: dict[str, FieldType] = {
    "email": "string",
    "email_domain": "string",
    "first_name": "string",
    "last_name": "string",
    "title": "string",
    "seniority": "string",
    "department": "string",
    "country": "string",
    "source": "string",
    "campaign": "string",
    "stage": "string",
    "age_days": "number",
}
"""Lead fields. ``email_domain`` and ``age_days`` (days since ``created_at``) are derived."""

ACCOUNT_FIELDS: dict[str, FieldType] = {
    "domain": "string",
    "name": "string",
    "industry": "string",
    "employee_count": "number",
    "annual_revenue": "number",
    "country": "string",
    "segment": "string",
}

ACTIVITY_TYPES: tuple[str, ...] = (
    "page_view",
    "email_open",
    "email_click",
    "form_submit",
    "content_download",
    "webinar_attended",
    "demo_request",
    "trial_signup",
    "meeting_booked",
    "pricing_page_view",
)

FEEDBACK_TYPES: tuple[str, ...] = ("rejected", "disqualified", "recycled", "lost", "won", "churned")
FEEDBACK_GROUPS: tuple[str, ...] = ("segment", "campaign")

REASON_KINDS: tuple[str, ...] = ("reject", "disqualify", "recycle", "lost")

OPERATORS: tuple[str, ...] = (
    "eq",
    "ne",
    "gt",
    "gte",
    "lt",
    "lte",
    "in",
    "not_in",
    "matches",
    "exists",
    "missing",
)

OPERATORS_BY_TYPE: dict[FieldType, frozenset[str]] = {
    "string": frozenset({"eq", "ne", "in", "not_in", "matches", "exists", "missing"}),
    "number": frozenset(
        {"eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "exists", "missing"}
    ),
    "boolean": frozenset({"eq", "ne", "exists", "missing"}),
}


def field_catalogue(score_names: list[str]) -> dict[str, FieldType]:
    """All condition paths for a rulebook whose scores are ``score_names``."""
    fields: dict[str, FieldType] = {f"lead.{k}": t for k, t in LEAD_FIELDS.items()}
    fields.update({f"account.{k}": t for k, t in ACCOUNT_FIELDS.items()})
    for name in score_names:
        fields[f"scores.{name}"] = "number"
        fields[f"adjustments.{name}"] = "number"
    return fields
