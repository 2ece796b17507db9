"""Handling a batch of Segment-spec calls with the batched intake services.

Order inside a batch: identify calls first (they create leads), then group (accounts), then
track and page (activities), so a batch may introduce a lead and report what it did. Each step
is one batched service call; the leads that changed are evaluated together at the end.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from strawberry.relay import to_base64

from api.activities import ActivityItem, record_activities
from api.bulk import evaluate_leads
from api.engine import RulesEngine
from api.enums import EvaluationTrigger
from api.errors import EngineFailure, InvalidInput, LeadgateError, NotFound
from api.ingest.segment import Call, calls_of, company_data, error_json, lead_data, parse_call
from api.lead_batch import LeadRow, upsert_leads
from api.leads import LeadData, normalize_email
from api.models import IngestedMessage, Lead


@dataclass(slots=True)
class ItemOutcome:
    """``ok``, ``duplicate`` (messageId seen before), ``ignored`` (unknown event) or ``error``."""

    index: int
    message_id: str | None = None
    status: str = "error"
    lead_id: int | None = None
    warning: str | None = None
    error: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "messageId": self.message_id,
            "status": self.status,
            "leadId": to_base64("Lead", self.lead_id) if self.lead_id else None,
            "warning": self.warning,
            "error": self.error,
        }


@dataclass(slots=True)
class IngestResult:
    items: list[ItemOutcome]
    evaluated: int = 0
    engine_failures: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        counts = {s: 0 for s in ("ok", "duplicate", "ignored", "error")}
        for item in self.items:
            counts[item.status] += 1
        return {
            "success": counts["error"] == 0,
            "summary": counts,
            "evaluated": self.evaluated,
            "engineFailures": self.engine_failures,
            "results": [item.as_json() for item in self.items],
        }


async def ingest(
    *,
    body: Any,
    event_types: Mapping[str, str],
    engine: RulesEngine | None,
    implied_type: str | None = None,
    now: datetime | None = None,
) -> IngestResult:
    """Store what the calls say; ``engine`` None skips the evaluation (bulk loads)."""
    now = now or datetime.now(UTC)
    raws = calls_of(body, implied_type)
    outcomes = [ItemOutcome(index=i) for i in range(len(raws))]
    calls: list[Call] = []
    for index, raw in enumerate(raws):
        outcome = outcomes[index]
        if isinstance(raw, dict) and isinstance(raw.get("messageId"), str):
            outcome.message_id = raw["messageId"]
        try:
            calls.append(parse_call(index, raw, now=now))
        except LeadgateError as exc:
            outcome.error = error_json(exc, index)
    fresh = await _skip_seen(calls, outcomes)
    affected: set[int] = set()
    await _identify([c for c in fresh if c.type == "identify"], outcomes, affected)
    await _group([c for c in fresh if c.type == "group"], outcomes, affected)
    await _track([c for c in fresh if c.type in ("track", "page")], outcomes, affected, event_types)
    await _remember(fresh, outcomes)
    result = IngestResult(items=outcomes)
    if engine is not None and affected:
        try:
            summary = await evaluate_leads(
                engine=engine, lead_ids=sorted(affected), trigger=EvaluationTrigger.ACTIVITY
            )
            result.evaluated = summary.evaluated
        except EngineFailure as exc:  # what was stored stays stored; evaluateLead can retry
            result.engine_failures.append(exc.message)
    return result


async def _skip_seen(calls: list[Call], outcomes: list[ItemOutcome]) -> list[Call]:
    """Calls whose messageId was handled before (or earlier in this batch) are duplicates."""
    ids = {c.message_id for c in calls}
    seen = (
        {m.message_id: m for m in await IngestedMessage.filter(message_id__in=ids)} if ids else {}
    )
    fresh: list[Call] = []
    in_batch: set[str] = set()
    for call in calls:
        outcome = outcomes[call.index]
        if call.message_id in seen or call.message_id in in_batch:
            outcome.status = "duplicate"
            previous = seen.get(call.message_id)
            outcome.lead_id = previous.lead_id if previous else None
            continue
        in_batch.add(call.message_id)
        fresh.append(call)
    return fresh


async def _identify(calls: list[Call], outcomes: list[ItemOutcome], affected: set[int]) -> None:
    rows: list[LeadRow] = []
    kept: list[Call] = []
    for call in calls:
        try:
            data, company, extra = lead_data(call)
        except LeadgateError as exc:
            outcomes[call.index].error = error_json(exc, call.index)
            continue
        rows.append(LeadRow(email=call.email, data=data, company=company, properties=extra))
        kept.append(call)
    _apply(kept, await upsert_leads(rows=rows) if rows else [], outcomes, affected)


async def _group(calls: list[Call], outcomes: list[ItemOutcome], affected: set[int]) -> None:
    rows: list[LeadRow] = []
    kept: list[Call] = []
    for call in calls:
        try:
            company = company_data(call.traits, "traits.")
            if company.website is None:
                raise InvalidInput(
                    "group traits need website or domain: accounts are matched by domain",
                    field="traits.website",
                )
        except LeadgateError as exc:
            outcomes[call.index].error = error_json(exc, call.index)
            continue
        data = LeadData(external_id=call.user_id)
        rows.append(LeadRow(email=call.email, data=data, company=company))
        kept.append(call)
    _apply(kept, await upsert_leads(rows=rows) if rows else [], outcomes, affected)


def _apply(
    calls: list[Call], results: list[Any], outcomes: list[ItemOutcome], affected: set[int]
) -> None:
    for call, result in zip(calls, results, strict=True):
        outcome = outcomes[call.index]
        if result.error is not None:
            outcome.error = error_json(result.error, call.index)
            continue
        outcome.status, outcome.lead_id = "ok", result.lead_id
        if result.changed:
            affected.add(result.lead_id)


async def _track(
    calls: list[Call],
    outcomes: list[ItemOutcome],
    affected: set[int],
    event_types: Mapping[str, str],
) -> None:
    leads = await _lead_ids(calls)
    items: list[ActivityItem] = []
    stored: list[Call] = []
    for call in calls:
        outcome = outcomes[call.index]
        lead_id = leads.get(("user", call.user_id)) or leads.get(("email", call.email))
        if lead_id is None:
            who = f"userId {call.user_id!r}" if call.user_id else f"email {call.email!r}"
            outcome.error = error_json(
                NotFound(
                    f"no lead with {who}",
                    field="userId",
                    suggestion="send an identify call with traits.email first",
                ),
                call.index,
            )
            continue
        outcome.lead_id = lead_id
        activity_type = event_types.get(call.event or "")
        if activity_type is None:
            outcome.status = "ignored"
            outcome.warning = (
                f"unknown event {call.event!r}: stored, not shown to the rules; "
                "map it with LEADGATE_SEGMENT_EVENTS"
            )
            continue
        items.append(
            ActivityItem(
                lead_id=lead_id,
                type=activity_type,
                occurred_at=call.timestamp,
                external_id=f"segment:{call.message_id}",
                source="segment",
                properties=call.properties,
            )
        )
        stored.append(call)
    if not items:
        return
    batch = await record_activities(items=items)
    for call, result in zip(stored, batch.items, strict=True):
        outcome = outcomes[call.index]
        if result.error is not None:
            outcome.error = error_json(result.error, call.index)
        else:
            outcome.status = "ok"
    affected.update(batch.affected_lead_ids)


async def _lead_ids(calls: list[Call]) -> dict[tuple[str, str | None], int]:
    """Leads by external id and by email, two queries for the whole batch."""
    user_ids = {c.user_id for c in calls if c.user_id}
    emails: set[str] = set()
    for call in calls:
        if call.email and not call.user_id:
            try:
                emails.add(normalize_email(call.email))
            except LeadgateError:
                continue
    found: dict[tuple[str, str | None], int] = {}
    if user_ids:
        pairs = await Lead.filter(external_id__in=user_ids).values_list("external_id", "id")
        found |= {("user", str(ext)): cast(int, pk) for ext, pk in pairs}
    if emails:
        pairs = await Lead.filter(email__in=emails).values_list("email", "id")
        found |= {("email", str(email)): cast(int, pk) for email, pk in pairs}
    for call in calls:  # the raw email as sent, for the lookup above
        if call.email and not call.user_id:
            try:
                key = normalize_email(call.email)
            except LeadgateError:
                continue
            if ("email", key) in found:
                found[("email", call.email)] = found[("email", key)]
    return found


async def _remember(calls: list[Call], outcomes: list[ItemOutcome]) -> None:
    """Handled calls, by messageId: errors are not kept, so a fixed call can be resent."""
    rows = [
        IngestedMessage(
            message_id=call.message_id,
            call=call.type,
            status=outcomes[call.index].status,
            event=call.event,
            lead_id=outcomes[call.index].lead_id,
            payload=call.raw if outcomes[call.index].status == "ignored" else None,
        )
        for call in calls
        if outcomes[call.index].status in ("ok", "ignored")
    ]
    if rows:
        await IngestedMessage.bulk_create(rows, ignore_conflicts=True, batch_size=500)
