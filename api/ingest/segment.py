"""Reading Segment-spec calls (identify, group, track, page) into typed Leadgate intake.

The shapes are those of Segment's HTTP tracking API (also sent by RudderStack, Jitsu and other
CDPs): a single call, or ``{"batch": [...]}``. Parsing is per item and never raises for one bad
item: it returns an error naming the field (``batch.3.event``) and the others go on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from api.errors import InvalidInput, LeadgateError
from api.leads import CompanyData, LeadData
from rules.catalogue import ACTIVITY_TYPES

CALL_TYPES = ("identify", "group", "track", "page")
MAX_BATCH = 1000
MAX_MESSAGE_ID = 190  # activity external ids are "segment:<messageId>", 200 characters at most

# Segment's spec'd event names (and Leadgate's own type names) to activity types. Operators add
# their own with LEADGATE_SEGMENT_EVENTS (a JSON object); unknown events are stored, not scored.
DEFAULT_EVENT_TYPES: dict[str, str] = {
    "Page Viewed": "page_view",
    "Pricing Page Viewed": "pricing_page_view",
    "Email Opened": "email_open",
    "Email Link Clicked": "email_click",
    "Form Submitted": "form_submit",
    "Content Downloaded": "content_download",
    "Webinar Attended": "webinar_attended",
    "Demo Requested": "demo_request",
    "Trial Started": "trial_signup",
    "Meeting Booked": "meeting_booked",
}


def event_types(overrides: dict[str, str]) -> dict[str, str]:
    """Event name -> activity type: Leadgate's own type names, Segment's spec'd names, overrides."""
    unknown = sorted(t for t in overrides.values() if t not in ACTIVITY_TYPES)
    if unknown:
        raise ValueError(
            f"LEADGATE_SEGMENT_EVENTS maps to unknown activity types {unknown}: "
            f"use {', '.join(ACTIVITY_TYPES)}"
        )
    return {**{t: t for t in ACTIVITY_TYPES}, **DEFAULT_EVENT_TYPES, **overrides}


_LEAD_TRAITS = {  # Segment reserved trait (or common alias) -> LeadData field
    "firstName": "first_name",
    "first_name": "first_name",
    "lastName": "last_name",
    "last_name": "last_name",
    "title": "title",
    "seniority": "seniority",
    "department": "department",
    "country": "country",
    "source": "source",
}
_HANDLED_TRAITS = {*_LEAD_TRAITS, "email", "name", "company", "address", "id", "userId"}


@dataclass(frozen=True, slots=True)
class Call:
    """One parsed call; ``user_id`` is the lead's external id, ``email`` the other key."""

    index: int
    type: str
    message_id: str
    timestamp: datetime
    user_id: str | None = None
    email: str | None = None
    event: str | None = None
    group_id: str | None = None
    traits: dict[str, Any] = field(default_factory=dict)
    properties: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)


def calls_of(body: Any, implied_type: str | None = None) -> list[dict[str, Any] | Any]:
    """The raw calls of a request body: a batch, or one call (whose type the path may imply)."""
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object", field="body")
    if "batch" in body:
        batch = body["batch"]
        if not isinstance(batch, list):
            raise InvalidInput("batch must be a list of calls", field="batch")
        if len(batch) > MAX_BATCH:
            raise InvalidInput(
                f"at most {MAX_BATCH} calls per batch, got {len(batch)}",
                field="batch",
                suggestion="split the batch",
            )
        shared = body.get("context") if isinstance(body.get("context"), dict) else None
        return [_with_context(item, shared) for item in batch]
    if implied_type is not None:
        return [{"type": implied_type, **body}]
    return [body]


def _with_context(item: Any, shared: dict[str, Any] | None) -> Any:
    if shared is None or not isinstance(item, dict):
        return item
    own = item.get("context")
    context: dict[str, Any] = own if isinstance(own, dict) else {}
    return {**item, "context": {**shared, **context}}


def parse_call(index: int, raw: Any, *, now: datetime) -> Call:
    """A typed call, or InvalidInput naming the field (relative to the item)."""
    if not isinstance(raw, dict):
        raise InvalidInput("a call must be a JSON object", field="type")
    kind = raw.get("type")
    if kind not in CALL_TYPES:
        raise InvalidInput(
            f"unsupported call type {kind!r}",
            field="type",
            suggestion=f"one of: {', '.join(CALL_TYPES)}",
        )
    message_id = raw.get("messageId")
    if not isinstance(message_id, str) or not message_id.strip():
        raise InvalidInput(
            "messageId is required (it makes the call idempotent)", field="messageId"
        )
    if len(message_id) > MAX_MESSAGE_ID:
        raise InvalidInput(f"messageId is longer than {MAX_MESSAGE_ID}", field="messageId")
    user_id = _optional_str(raw, "userId")
    traits = _object(raw, "traits")
    properties = _object(raw, "properties")
    context = _object(raw, "context")
    found = context.get("traits")
    context_traits: dict[str, Any] = found if isinstance(found, dict) else {}
    email = traits.get("email") if kind == "identify" else context_traits.get("email")
    if email is None and kind != "identify":
        email = properties.get("email")
    if email is not None and not isinstance(email, str):
        raise InvalidInput("email must be a string", field="traits.email")
    if user_id is None and email is None:
        raise InvalidInput(
            "the call names no lead: send userId or an email trait",
            field="userId",
            suggestion="anonymous calls (anonymousId only) are not stored: identify first",
        )
    event = _optional_str(raw, "event")
    if kind == "track" and not event:
        raise InvalidInput("a track call needs an event name", field="event")
    if kind == "page":
        event = "Page Viewed"
    group_id = _optional_str(raw, "groupId")
    if kind == "group" and not group_id:
        raise InvalidInput("a group call needs a groupId", field="groupId")
    return Call(
        index=index,
        type=kind,
        message_id=message_id,
        timestamp=_timestamp(raw, now),
        user_id=user_id,
        email=email,
        event=event,
        group_id=group_id,
        traits=traits,
        properties=properties,
        raw=raw,
    )


def _optional_str(raw: dict[str, Any], name: str) -> str | None:
    value = raw.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)  # Segment allows numeric user ids
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a string", field=name)
    return value


def _object(raw: dict[str, Any], name: str) -> dict[str, Any]:
    value = raw.get(name, {})
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput(f"{name} must be an object", field=name)
    return value


def _timestamp(raw: dict[str, Any], now: datetime) -> datetime:
    for name in ("timestamp", "originalTimestamp"):
        value = raw.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            raise InvalidInput(f"{name} must be an ISO 8601 string", field=name)
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise InvalidInput(f"{name} {value!r} is not ISO 8601", field=name) from exc
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return now


def lead_data(call: Call) -> tuple[LeadData, CompanyData, dict[str, Any]]:
    """Identify traits as lead fields, company firmographics, and the rest as properties."""
    traits = call.traits
    values: dict[str, str] = {}
    for trait, name in _LEAD_TRAITS.items():
        if traits.get(trait) is not None:
            values[name] = _trait_str(traits, trait)
    address = traits.get("address")
    if "country" not in values and isinstance(address, dict) and address.get("country"):
        values["country"] = _trait_str(address, "country", prefix="traits.address.")
    if isinstance(traits.get("name"), str) and "first_name" not in values:
        first, _, last = traits["name"].strip().partition(" ")
        values["first_name"] = first
        if last and "last_name" not in values:
            values["last_name"] = last
    company = traits.get("company")
    extra = {k: v for k, v in traits.items() if k not in _HANDLED_TRAITS}
    data = LeadData(external_id=call.user_id, **values)
    return (
        data,
        company_data(company if isinstance(company, dict) else {}, "traits.company."),
        extra,
    )


def company_data(traits: dict[str, Any], prefix: str) -> CompanyData:
    """Firmographics from company traits (identify's ``company`` or a group call's traits)."""
    website = traits.get("website") or traits.get("domain")
    employees = traits.get("employee_count", traits.get("employees"))
    revenue = traits.get("annual_revenue", traits.get("annualRevenue"))
    return CompanyData(
        website=_trait_str(traits, "website" if traits.get("website") else "domain", prefix)
        if website
        else None,
        name=_trait_str(traits, "name", prefix) if traits.get("name") else None,
        industry=_trait_str(traits, "industry", prefix) if traits.get("industry") else None,
        employee_count=_int(employees, prefix + "employees") if employees is not None else None,
        annual_revenue=_decimal(revenue, prefix + "annualRevenue") if revenue is not None else None,
        country=_trait_str(traits, "country", prefix) if traits.get("country") else None,
    )


def _trait_str(traits: dict[str, Any], name: str, prefix: str = "traits.") -> str:
    value = traits[name]
    if not isinstance(value, str):
        raise InvalidInput(f"{prefix}{name} must be a string", field=f"{prefix}{name}")
    return value.strip()


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidInput(f"{name} must be a number", field=name)
    try:
        return int(value)
    except ValueError as exc:
        raise InvalidInput(f"{name} must be a whole number", field=name) from exc


def _decimal(value: Any, name: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidInput(f"{name} must be a number", field=name)
    try:
        return Decimal(str(value))
    except InvalidOperation as exc:
        raise InvalidInput(f"{name} must be a number", field=name) from exc


def error_json(exc: LeadgateError, index: int | None = None) -> dict[str, Any]:
    """A typed error as the ingest API returns it; the field is prefixed with the item."""
    path = exc.field
    if index is not None and path is not None:
        path = f"batch.{index}.{path}"
    return {"code": exc.code, "message": exc.message, "field": path, "suggestion": exc.suggestion}
