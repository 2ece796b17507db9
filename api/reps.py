"""Sales reps managed through the API: create, change, deactivate (re-routing their pending
handoffs by the rulebook's routing rules), all audited."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime

from tortoise.exceptions import IntegrityError
from tortoise.functions import Count
from tortoise.transactions import in_transaction

from api import audit
from api.engine import RulesEngine
from api.enums import HandoffStatus
from api.errors import Conflict, InvalidInput, NotFound
from api.facts import build_inputs
from api.leads import normalize_email
from api.locking import for_update
from api.models import DomainEvent, Handoff, HandoffStep, Lead, SalesRep
from api.shares import apply_shares, latest_shares, next_step_numbers, save_shares
from rules import RulesError


@dataclass(frozen=True, slots=True)
class RepChanges:
    """What to change on a rep; None means "keep"."""

    name: str | None = None
    territory: str | None = None
    segments: list[str] | None = None
    capacity: int | None = None
    active: bool | None = None


@dataclass(frozen=True, slots=True)
class Reroute:
    """What deactivating a rep did to one of their pending handoffs."""

    handoff_id: int
    new_owner_id: int | None
    why: str


def _check(changes: RepChanges) -> None:
    if changes.name is not None and not changes.name.strip():
        raise InvalidInput("name cannot be empty", field="name")
    if changes.territory is not None and not changes.territory.strip():
        raise InvalidInput(
            "territory cannot be empty", field="territory", suggestion="e.g. NA, EMEA, APAC"
        )
    if changes.capacity is not None and not 0 <= changes.capacity <= 100_000:
        raise InvalidInput(
            f"capacity must be between 0 and 100000, got {changes.capacity}", field="capacity"
        )
    if changes.segments is not None and any(not s.strip() for s in changes.segments):
        raise InvalidInput("segments cannot contain empty names", field="segments")


async def create_rep(
    *, email: str, name: str, territory: str, segments: list[str], capacity: int, actor: str
) -> SalesRep:
    """A new active rep; routing can pick them from the next evaluation on."""
    email = normalize_email(email)
    changes = RepChanges(name=name, territory=territory, segments=segments, capacity=capacity)
    _check(changes)
    try:
        async with in_transaction():
            rep = await SalesRep.create(
                email=email,
                name=name.strip(),
                territory=territory.strip(),
                segments=[s.strip() for s in segments],
                capacity=capacity,
            )
            await audit.record(
                actor=actor, action="rep.create", type_name="SalesRep", pk=rep.id,
                details={"email": email, "territory": rep.territory, "segments": rep.segments,
                         "capacity": capacity},
            )  # fmt: skip
    except IntegrityError as exc:
        raise Conflict(
            f"a sales rep with email {email} exists",
            field="email",
            suggestion="update that rep instead",
        ) from exc
    return rep


async def update_rep(
    *, rep_id: int, changes: RepChanges, actor: str, engine: RulesEngine
) -> tuple[SalesRep, list[Reroute]]:
    """Change a rep. Deactivating re-routes their pending handoffs in the same transaction."""
    _check(changes)
    async with in_transaction():
        rep = await for_update(SalesRep.filter(id=rep_id)).first()
        if rep is None:
            raise NotFound(f"no sales rep with id {rep_id}", field="repId")
        diff: dict[str, object] = {}
        for f in fields(changes):
            value = getattr(changes, f.name)
            if value is None:
                continue
            if isinstance(value, str):
                value = value.strip()
            elif isinstance(value, list):
                value = [s.strip() for s in value]
            if getattr(rep, f.name) != value:
                diff[f.name] = value
        if not diff:
            return rep, []
        deactivated = diff.get("active") is False
        before = {name: getattr(rep, name) for name in diff}
        rep.update_from_dict(diff)
        await rep.save(update_fields=list(diff))
        reroutes = await _reroute(rep, engine) if deactivated else []
        await audit.record(
            actor=actor,
            action="rep.deactivate" if deactivated else "rep.update",
            type_name="SalesRep",
            pk=rep.id,
            details={
                "before": before,
                "after": diff,
                "rerouted": [
                    {"handoff": audit.global_id("Handoff", r.handoff_id),
                     "to": audit.global_id("SalesRep", r.new_owner_id) if r.new_owner_id else None}
                    for r in reroutes
                ],
            },
        )  # fmt: skip
        return rep, reroutes


async def _reroute(rep: SalesRep, engine: RulesEngine) -> list[Reroute]:
    """Route each pending handoff of ``rep`` again, one after the other so capacity and round
    robin see the earlier choices; handoffs no rule can place stay and raise an event."""
    handoffs = await for_update(
        Handoff.filter(owner_id=rep.id, status=HandoffStatus.PENDING).order_by("id")
    )
    if not handoffs:
        return []
    now = datetime.now(UTC)
    leads = await for_update(Lead.filter(id__in=[h.lead_id for h in handoffs]))  # type: ignore[attr-defined]
    inputs = await build_inputs(leads=leads, now=now, lookback_days=engine.lookback_days)
    reps = next(iter(inputs.values())).reps
    by_lead = {lead.id: lead for lead in leads}
    reroutes: list[Reroute] = []
    events: list[DomainEvent] = []
    moved_leads: list[Lead] = []
    steps: list[HandoffStep] = []
    touched: set[str] = set()
    numbers = await next_step_numbers([h.id for h in handoffs])
    for handoff in handoffs:
        lead_id: int = handoff.lead_id  # type: ignore[attr-defined]
        fact_input = inputs[lead_id].model_copy(update={"reps": reps})
        try:
            result = await engine.evaluate(fact_input)
        except RulesError as exc:
            reroutes.append(Reroute(handoff.id, None, f"the rule engine failed: {exc}"))
            continue
        chosen = result.routing.rep_id
        if chosen is None:
            reroutes.append(Reroute(handoff.id, None, result.routing.why))
            events.append(
                DomainEvent(
                    kind="handoff_unrouted",
                    subject_id=lead_id,
                    payload={"lead": lead_id, "handoff": handoff.id, "why": result.routing.why},
                )
            )
            continue
        new_owner = int(chosen)
        handoff.owner_id = new_owner
        if result.sla is not None:
            handoff.sla_deadline = result.sla.deadline
        lead = by_lead[lead_id]
        lead.owner_id = new_owner
        lead.version += 1
        moved_leads.append(lead)
        reps = [
            r.model_copy(update={"open_handoffs": r.open_handoffs + 1, "last_assigned_at": now})
            if r.rep_id == chosen
            else r
            for r in reps
        ]
        reps = apply_shares(reps, result.routing.shares)
        touched.update(s.rep_id for s in result.routing.shares)
        steps.append(
            HandoffStep(
                handoff_id=handoff.id,
                step=numbers.get(handoff.id, 0),
                kind="rerouted",
                rep_id=new_owner,
                reason=f"{rep.email} was deactivated; {result.routing.why}",
                at=now,
            )
        )
        events.append(DomainEvent(kind="handoff", subject_id=new_owner, payload={"id": handoff.id}))
        reroutes.append(Reroute(handoff.id, new_owner, result.routing.why))
    placed = [h for h, r in zip(handoffs, reroutes, strict=True) if r.new_owner_id is not None]
    if placed:
        await Handoff.bulk_update(placed, fields=["owner_id", "sla_deadline"])
        await Lead.bulk_update(moved_leads, fields=["owner_id", "version"])
        owners = {r.new_owner_id for r in reroutes if r.new_owner_id is not None}
        await SalesRep.filter(id__in=list(owners)).update(last_assigned_at=now)
        await HandoffStep.bulk_create(steps)
        await save_shares(latest_shares(reps, touched))
    await DomainEvent.bulk_create(events)
    return reroutes


async def open_handoff_counts(rep_ids: Sequence[int]) -> list[int]:
    """Pending handoffs per rep, one grouped query for any number of reps."""
    rows = (
        await Handoff.filter(owner_id__in=list(rep_ids), status=HandoffStatus.PENDING)
        .annotate(n=Count("id"))
        .group_by("owner_id")
        .values_list("owner_id", "n")
    )
    counts = {int(owner): int(n) for owner, n in rows}
    return [counts.get(rep_id, 0) for rep_id in rep_ids]
