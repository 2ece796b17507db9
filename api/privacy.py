"""A person's rights over their data: export everything stored about a lead, or erase it.

Erasure removes what identifies the person (email, names, title, external id, free-form
properties, phone numbers…) from the lead and from every copy the service keeps: evaluation
input snapshots and explanations, activity properties, notes and event payloads. Decisions and
aggregates stay: the lead row, its stage, scores, account, campaigns, activities' types and
times and every evaluation remain, so funnel counts and metrics do not move. A tombstone (a
hash of the email) makes intake refuse to re-create the person silently.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, TypeVar

from tortoise import Tortoise
from tortoise.expressions import Q
from tortoise.models import Model
from tortoise.transactions import in_transaction

from api import audit, evaluations
from api.errors import Conflict, InvalidInput, NotFound
from api.locking import for_update, on_postgres
from api.models import (
    Account,
    Activity,
    Deal,
    DomainEvent,
    ErasureTombstone,
    Evaluation,
    Feedback,
    Handoff,
    IdempotencyRecord,
    Lead,
    LeadStageChange,
)

M = TypeVar("M", bound=Model)
ERASED = "[erased]"
BATCH = 500
#: Keys of free-form properties (activities, leads) that hold personal data, compared lower-case.
PERSONAL_KEYS = frozenset(
    {
        "email", "e_mail", "mail", "first_name", "firstname", "last_name", "lastname", "name",
        "full_name", "fullname", "phone", "phone_number", "mobile", "tel", "telephone",
        "address", "street", "ip", "ip_address", "linkedin", "linkedin_url", "twitter",
        "birthday", "date_of_birth",
    }
)  # fmt: skip
LEAD_PERSONAL_FIELDS = ("first_name", "last_name", "title", "external_id")


def email_hash(email: str) -> str:
    """What a tombstone stores: never the email itself."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


async def is_tombstoned(email: str) -> bool:
    return await ErasureTombstone.exists(email_hash=email_hash(email))


async def _lead(lead_id: int, *, lock: bool) -> Lead:
    query = Lead.filter(id=lead_id)
    lead = await (for_update(query) if lock else query).first()
    if lead is None:
        raise NotFound(f"no lead with id {lead_id}", field="leadId")
    return lead


def _row(row: Any, *names: str) -> dict[str, Any]:
    return {name: getattr(row, name) for name in names}


async def export_lead(*, lead_id: int, actor: str) -> dict[str, Any]:
    """Everything stored about one person, as JSON-ready data (datetimes stay objects)."""
    async with in_transaction():
        lead = await _lead(lead_id, lock=False)
        account = await Account.get_or_none(id=lead.account_id) if lead.account_id else None  # type: ignore[attr-defined]
        data: dict[str, Any] = {
            "id": audit.global_id("Lead", lead.id),
            "lead": _row(lead, "email", "external_id", "first_name", "last_name", "title",
                         "seniority", "department", "country", "source", "stage", "fit_score",
                         "engagement_score", "scores", "properties", "mql_at", "created_at",
                         "updated_at", "erased_at"),
            "account": _row(account, "domain", "name", "industry", "employee_count", "country",
                            "segment") if account else None,
            "activities": [
                _row(a, "type", "occurred_at", "source", "external_id", "properties")
                for a in await Activity.filter(lead_id=lead.id).order_by("occurred_at", "id")
            ],
            "evaluations": [
                {"id": audit.global_id("Evaluation", e.id),
                 **_row(e, "created_at", "trigger", "rulebook_version", "stage_before",
                        "stage_after", "input", "fired", "scores", "outcome")}
                for e in await Evaluation.filter(lead_id=lead.id).order_by("id")
            ],
            "stage_changes": [
                _row(c, "from_stage", "to_stage", "applied", "reason", "actor", "changed_at")
                for c in await LeadStageChange.filter(lead_id=lead.id).order_by("id")
            ],
            "handoffs": [
                _row(h, "status", "priority", "sla_deadline", "reason_code", "note",
                     "decided_at", "created_at")
                for h in await Handoff.filter(lead_id=lead.id).order_by("id")
            ],
            "feedback": [
                _row(f, "kind", "reason_code", "note", "created_at")
                for f in await Feedback.filter(lead_id=lead.id).order_by("id")
            ],
            "deals": [
                _row(d, "name", "stage", "amount", "currency", "closed_at", "close_reason")
                for d in await Deal.filter(lead_id=lead.id).order_by("id")
            ],
        }  # fmt: skip
        await audit.record(
            actor=actor, action="lead.export", type_name="Lead", pk=lead.id, details={}
        )
    return data


class _Scrubber:
    """Removes one person's identifying strings from any JSON value."""

    def __init__(self, secrets: Iterable[str]) -> None:
        # Longest first, so "Ada Lovelace" goes before "Ada"; whole words only, so "Ana" leaves
        # "Analytics" alone; one letter identifies no one.
        values = sorted({s.strip() for s in secrets if s and len(s.strip()) >= 2}, key=len)
        self.values = list(reversed(values))
        self.pattern = (
            re.compile("|".join(_word(v) for v in self.values), re.IGNORECASE) if values else None
        )

    def text(self, value: str) -> str:
        return self.pattern.sub(ERASED, value) if self.pattern else value

    def json(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.json(v) for v in value]
        if isinstance(value, dict):
            return {
                k: (None if k.lower() in PERSONAL_KEYS and v is not None else self.json(v))
                for k, v in value.items()
            }
        return value


def _word(value: str) -> str:
    start = r"\b" if value[0].isalnum() else ""
    end = r"\b" if value[-1].isalnum() else ""
    return f"{start}{re.escape(value)}{end}"


def _identifying(lead: Lead, activities: list[Activity]) -> list[str]:
    """Values that point at this person and no one else: safe to search other rows for."""
    values = [lead.email, lead.external_id or ""]
    if lead.first_name and lead.last_name:
        values.append(f"{lead.first_name} {lead.last_name}")
    for props in [lead.properties, *(a.properties for a in activities)]:
        values += [str(v) for k, v in props.items() if k.lower() in PERSONAL_KEYS and v]
    return values


def _personal(lead: Lead, activities: list[Activity]) -> list[str]:
    """Also the parts (a first name alone): only for rows that are about this person."""
    values = _identifying(lead, activities)
    return [*values, lead.email.split("@", 1)[0], lead.first_name or "", lead.last_name or "",
            lead.title or ""]  # fmt: skip


async def erase_lead(*, lead_id: int, reason: str, actor: str, tombstone: bool) -> Lead:
    """Erase one person's data everywhere, in one transaction; audited with the reason."""
    if not reason.strip():
        raise InvalidInput("a reason is required", field="reason", suggestion="e.g. GDPR Art. 17")
    now = datetime.now(UTC)
    async with in_transaction():
        lead = await _lead(lead_id, lock=True)
        if lead.erased_at is not None:
            raise Conflict(f"lead {lead_id} was already erased", field="leadId")
        activities = await Activity.filter(lead_id=lead.id)
        scrub = _Scrubber(_personal(lead, activities))
        placeholder = f"erased-{lead.id}@{lead.email.rsplit('@', 1)[1]}"
        identifying = _Scrubber(_identifying(lead, activities))
        counts = {
            "activities": await _scrub_activities(activities, scrub),
            "evaluations": await _scrub_evaluations(lead.id, scrub, placeholder),
            "notes": await _scrub_notes(lead.id, scrub),
            "events": await _scrub_events(identifying),
            "replays": await _drop_replays(identifying),
        }
        if tombstone:
            await ErasureTombstone.get_or_create(email_hash=email_hash(lead.email))
        lead.update_from_dict(
            {"email": placeholder, "properties": {}, "erased_at": now, "version": lead.version + 1}
            | dict.fromkeys(LEAD_PERSONAL_FIELDS)
        )
        await lead.save()
        await audit.record(
            actor=actor, action="lead.erase", type_name="Lead", pk=lead.id,
            details={"reason": scrub.text(reason), "tombstone": tombstone, "scrubbed": counts},
        )  # fmt: skip
        return lead


async def _scrub_activities(activities: list[Activity], scrub: _Scrubber) -> int:
    changed = []
    for a in activities:
        props = scrub.json(a.properties)
        external = a.external_id
        if external is not None and scrub.text(external) != external:
            external = f"erased-{a.id}"
        if props != a.properties or external != a.external_id:
            a.properties, a.external_id = props, external
            changed.append(a)
    if changed:
        await Activity.bulk_update(changed, fields=["properties", "external_id"], batch_size=BATCH)
    return len(changed)


async def _scrub_evaluations(lead_id: int, scrub: _Scrubber, placeholder: str) -> int:
    """Every stored input and explanation, a batch at a time: a lead can have thousands.

    Records are lean (#9): the input is stored packed (see api.evaluations.pack_input), which
    leaves out empty lead fields, so the person's fields are dropped there rather than nulled;
    rows written before the packed form still hold them as nulls."""
    total, last = 0, 0
    columns = ("input", "fired", "contributions", "outcome")
    while (
        batch := await Evaluation.filter(lead_id=lead_id, id__gt=last).order_by("id").limit(BATCH)
    ):
        for e in batch:
            e.input = scrub.json({**e.input, "lead": _erased_person(e.input, placeholder)})
            for column in columns[1:]:
                setattr(e, column, scrub.json(getattr(e, column)))
        await Evaluation.bulk_update(batch, fields=list(columns))
        total += len(batch)
        last = batch[-1].id
    return total


def _erased_person(stored: dict[str, Any], placeholder: str) -> dict[str, Any]:
    """The lead part of a stored input with the person's fields gone, in the row's own format."""
    person = dict(stored.get("lead") or {})
    gone = ("first_name", "last_name", "title")
    if stored.get("v") == evaluations.FORMAT:
        person = {k: v for k, v in person.items() if k not in gone}
    else:
        person.update(dict.fromkeys(gone))
    person["email"] = placeholder
    return person


async def _scrub_notes(lead_id: int, scrub: _Scrubber) -> int:
    """Free text people wrote about the person: handoff and feedback notes, deal names."""
    changed = 0
    for model, column in ((Handoff, "note"), (Feedback, "note"), (Deal, "name")):
        changed += await _scrub_column(model, column, lead_id, scrub)
    return changed


async def _scrub_column(model: type[M], column: str, lead_id: int, scrub: _Scrubber) -> int:
    dirty = []
    for row in await model.filter(lead_id=lead_id):
        value = getattr(row, column)
        if value and scrub.text(value) != value:
            setattr(row, column, scrub.text(value))
            dirty.append(row)
    if dirty:
        await model.bulk_update(dirty, fields=[column])
    return len(dirty)


async def _mentions(table: str, column: str, scrub: _Scrubber) -> list[int]:
    """Ids of rows whose JSON ``column`` mentions the person: tables without a lead column
    (the outbox, the idempotency replays) are searched, not scanned into Python."""
    if not scrub.values:
        return []
    conn = Tortoise.get_connection("default")
    if on_postgres():
        where = " OR ".join(f"{column}::text ILIKE ${i + 1}" for i in range(len(scrub.values)))
        needles = [f"%{_like(v)}%" for v in scrub.values]
    else:  # JSON text as stored: non-ASCII characters are escaped, LIKE ignores ASCII case
        stored = [json.dumps(v)[1:-1] for v in scrub.values]
        where = " OR ".join(f"{column} LIKE ? ESCAPE '\\'" for _ in stored)
        needles = [f"%{_like(v)}%" for v in stored]
    rows = await conn.execute_query_dict(f"SELECT id FROM {table} WHERE {where}", needles)
    return [int(r["id"]) for r in rows]


async def _scrub_events(scrub: _Scrubber) -> int:
    events = await DomainEvent.filter(id__in=await _mentions("domain_event", "payload", scrub))
    for event in events:
        event.payload = scrub.json(event.payload)
    if events:
        await DomainEvent.bulk_update(events, fields=["payload"], batch_size=BATCH)
    return len(events)


async def _drop_replays(scrub: _Scrubber) -> int:
    """Idempotency replays whose key or stored response mentions the person: they are caches,
    and a replay after the erasure would meet the tombstone anyway."""
    if not scrub.values:
        return 0
    by_key = Q(*(Q(key__icontains=v) for v in scrub.values), join_type=Q.OR)
    keyed: list[int] = await IdempotencyRecord.filter(by_key).values_list("id", flat=True)  # type: ignore[assignment]
    ids = {*keyed, *await _mentions("idempotency_record", "response", scrub)}
    if ids:
        await IdempotencyRecord.filter(id__in=list(ids)).delete()
    return len(ids)


def _like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
