"""Which domain events become which webhook events, and what their payloads say.

The outbox (DomainEvent) holds what services wrote in their transactions; this module reads a
batch of it and builds, per event, the webhook body (old and new values under ``changes``) and
the attributes endpoint filters look at (owner, segment, stages). Leads are read once per batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from strawberry.relay import to_base64

from api.models import DomainEvent, Handoff, Lead

EVENT_TYPES: dict[str, str] = {
    "handoff.created": "A lead was handed to a sales owner (status: null -> pending)",
    "handoff.accepted": "The owner accepted the handoff (status: pending|expired -> accepted)",
    "handoff.rejected": "The owner rejected the handoff with a reason code",
    "handoff.expired": "The first-touch SLA passed without a decision (pending -> expired)",
    "handoff.escalated": "Nobody accepted in time: the handoff went to the next rep, a "
    "fallback rep or a fallback queue (sla.escalation), with the reason",
    "lead.stage_changed": "A lead moved in the lifecycle (by the rules or by hand)",
    "deal.won": "A deal closed as won (stage: <open stage> -> closed_won)",
    "deal.lost": "A deal closed as lost, with a reason",
    "targeting_adjustment.created": "Feedback rules created a targeting adjustment",
    "rulebook.published": "A rulebook version became the active one",
}


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """One outbox row as endpoints see it: the body, and what filters match against."""

    event_id: int
    type: str
    body: dict[str, Any]
    owner_id: int | None
    segment: str | None
    stages: frozenset[str]
    lead_id: int | None


def message_id(event_id: int) -> str:
    """Stable across retries and redeliveries: receivers deduplicate on it."""
    return f"evt_{event_id}"


def _gid(type_name: str, value: object) -> str | None:
    return to_base64(type_name, value) if isinstance(value, int) else None


def _change(old: object, new: object) -> dict[str, object]:
    return {"old": old, "new": new}


async def translate(events: Sequence[DomainEvent]) -> list[WebhookEvent]:
    """Webhook events for the outbox rows that have one (others, e.g. evaluations, are skipped)."""
    handoff_ids = [cast(int, e.payload.get("id")) for e in events if e.kind == "handoff"]
    handoffs = {h.id: h for h in await Handoff.filter(id__in=handoff_ids)} if handoff_ids else {}
    staged: list[tuple[DomainEvent, str, dict[str, Any], dict[str, Any]]] = []
    for event in events:
        built = _build(event, handoffs)
        if built is not None:
            staged.append((event, *built))
    lead_ids = {cast(int, facts["lead"]) for _, _, _, facts in staged if facts.get("lead")}
    leads = await _leads(lead_ids)
    out: list[WebhookEvent] = []
    for event, kind, data, facts in staged:
        found = leads.get(cast(int, facts.get("lead") or 0))
        lead = dict(found) if found is not None else None  # several events of one lead
        if lead is not None:
            data["lead"] = lead
        owner = facts.get("owner")
        if owner is None and lead is not None:
            owner = lead["_owner"]
        segment = facts.get("segment") or (lead["segment"] if lead else None)
        stages = facts.get("stages") or ({lead["stage"]} if lead else set())
        if lead is not None:
            lead.pop("_owner", None)
        out.append(
            WebhookEvent(
                event_id=event.id,
                type=kind,
                body={
                    "id": message_id(event.id),
                    "type": kind,
                    "createdAt": event.created_at.isoformat(),
                    "data": data,
                },
                owner_id=cast(int | None, owner),
                segment=cast(str | None, segment),
                stages=frozenset(stages),
                lead_id=cast(int | None, facts.get("lead")),
            )
        )
    return out


async def _leads(ids: set[int]) -> dict[int, dict[str, Any]]:
    if not ids:
        return {}
    rows = await Lead.filter(id__in=ids).values(
        "id", "email", "external_id", "stage", "owner_id", "account__segment"
    )
    return {
        row["id"]: {
            "id": to_base64("Lead", row["id"]),
            "email": row["email"],
            "externalId": row["external_id"],
            "stage": str(row["stage"]),
            "ownerId": _gid("SalesRep", row["owner_id"]),
            "segment": row["account__segment"],
            "_owner": row["owner_id"],
        }
        for row in rows
    }


Built = tuple[str, dict[str, Any], dict[str, Any]]


def _build(event: DomainEvent, handoffs: dict[int, Handoff]) -> Built | None:
    """(webhook type, data without the lead, facts for filters) or None for internal events."""
    builder = _BUILDERS.get(event.kind)
    return builder(event.payload, handoffs) if builder is not None else None


def _handoff_created(p: dict[str, Any], handoffs: dict[int, Handoff]) -> Built | None:
    handoff = handoffs.get(cast(int, p.get("id")))
    if handoff is None:  # deleted since: nothing left to say
        return None
    owner = handoff.owner_id  # type: ignore[attr-defined]
    data = {
        "handoff": {
            "id": to_base64("Handoff", handoff.id),
            "ownerId": _gid("SalesRep", owner),
            "priority": handoff.priority,
            "slaDeadline": handoff.sla_deadline.isoformat(),
        },
        "changes": {"status": _change(None, "pending")},
    }
    return "handoff.created", data, {"lead": handoff.lead_id, "owner": owner}  # type: ignore[attr-defined]


def _handoff_decided(p: dict[str, Any], _: dict[int, Handoff]) -> Built:
    data = {
        "handoff": {
            "id": _gid("Handoff", p["handoff"]),
            "ownerId": _gid("SalesRep", p.get("owner")),
            "reasonCode": p.get("reason"),
        },
        "changes": {"status": _change(p["from"], p["to"])},
    }
    return f"handoff.{p['to']}", data, {"lead": p.get("lead"), "owner": p.get("owner")}


def _handoff_expired(p: dict[str, Any], _: dict[int, Handoff]) -> Built:
    data = {
        "handoff": {"id": _gid("Handoff", p.get("handoff")), "slaDeadline": p.get("deadline")},
        "changes": {"status": _change("pending", "expired")},
    }
    return "handoff.expired", data, {"lead": p.get("lead")}


def _handoff_escalated(p: dict[str, Any], _: dict[int, Handoff]) -> Built:
    data = {
        "handoff": {"id": _gid("Handoff", p.get("handoff")), "queue": p.get("queue")},
        "step": p.get("step"),
        "kind": p.get("kind"),
        "reason": p.get("reason"),
        "changes": {
            "ownerId": _change(_gid("SalesRep", p.get("from")), _gid("SalesRep", p.get("to")))
        },
    }
    return "handoff.escalated", data, {"lead": p.get("lead"), "owner": p.get("to")}


def _stage_changed(p: dict[str, Any], _: dict[int, Handoff]) -> Built:
    data = {
        "changes": {"stage": _change(p["from"], p["to"])},
        "reason": p.get("reason"),
        "actor": p.get("actor"),
    }
    facts = {"lead": p.get("lead"), "owner": p.get("owner"), "stages": {p["from"], p["to"]}}
    return "lead.stage_changed", data, facts


def _deal_closed(p: dict[str, Any], _: dict[int, Handoff]) -> Built:
    won = p["to"] == "closed_won"
    data = {
        "deal": {
            "id": _gid("Deal", p.get("deal")),
            "accountId": _gid("Account", p.get("account")),
            "ownerId": _gid("SalesRep", p.get("owner")),
            "amount": p.get("amount"),
            "currency": p.get("currency"),
            "closeReason": p.get("reason"),
        },
        "changes": {"stage": _change(p["from"], p["to"])},
    }
    return (
        ("deal.won" if won else "deal.lost"),
        data,
        {"lead": p.get("lead"), "owner": p.get("owner")},
    )


def _adjustment(p: dict[str, Any], _: dict[int, Handoff]) -> Built:
    data = {"adjustment": {"rule": p.get("rule"), "scope": p.get("scope"), "value": p.get("value")}}
    segment = p.get("value") if p.get("scope") == "segment" else None
    return "targeting_adjustment.created", data, {"segment": segment}


def _rulebook(p: dict[str, Any], _: dict[int, Handoff]) -> Built:
    """Written by the rulebook lifecycle: ``{"version", "previous", "published_by"}``."""
    data = {
        "rulebook": {"version": p.get("version"), "publishedBy": p.get("published_by")},
        "changes": {"version": _change(p.get("previous"), p.get("version"))},
    }
    return "rulebook.published", data, {}


_BUILDERS: dict[str, Callable[[dict[str, Any], dict[int, Handoff]], Built | None]] = {
    "handoff": _handoff_created,
    "handoff_decided": _handoff_decided,
    "sla_breached": _handoff_expired,
    "handoff_escalated": _handoff_escalated,
    "lead_stage_changed": _stage_changed,
    "deal_closed": _deal_closed,
    "targeting_adjusted": _adjustment,
    "rulebook_published": _rulebook,
}
