"""Sales reps in GraphQL: list them with their load and calendar, create, change and deactivate
them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated, Self

import strawberry
from strawberry import relay

from api import reps as service
from api.errors import LeadgateError
from api.models import RepAbsence as RepAbsenceRow
from api.models import SalesRep as SalesRepRow
from api.worktime import Availability, availability, rep_data
from rules.calendars import rep_calendar
from rules.worktime import Calendar
from schema.context import Info
from schema.errors import UserError, user_error
from schema.ids import node_id
from schema.pagination import Connection, id_connection
from schema.worktime import RepAbsence, WorkingDay, working_days


@strawberry.type(description="A sales owner that routing assigns handoffs to.")
class SalesRep(relay.Node):
    id: relay.NodeID[int]
    email: str = strawberry.field(description="Work email")
    name: str = strawberry.field(description="Display name")
    territory: str = strawberry.field(description="Territory, e.g. NA, EMEA, APAC")
    segments: list[str] = strawberry.field(description="Segments this rep covers")
    capacity: int = strawberry.field(description="Open handoffs this rep can hold")
    active: bool = strawberry.field(description="Inactive reps are never routed to")
    last_assigned_at: datetime | None = strawberry.field(
        description="Last handoff routed to them (round robin picks the longest-waiting rep)"
    )
    created_at: datetime = strawberry.field(description="Created at")
    row: strawberry.Private[SalesRepRow]

    @classmethod
    def from_row(cls, row: SalesRepRow) -> Self:
        return cls(
            id=row.id,
            email=row.email,
            name=row.name,
            territory=row.territory,
            segments=list(row.segments),
            capacity=row.capacity,
            active=row.active,
            last_assigned_at=row.last_assigned_at,
            created_at=row.created_at,
            row=row,
        )

    def _calendar(self, info: Info) -> Calendar:
        return rep_calendar(info.context.engine.rulebook.working_time, rep_data(self.row))

    async def _availability(self, info: Info, at: datetime | None) -> Availability:
        absences = await info.context.loaders.rep_absences.load(self.id)
        now = at or datetime.now(UTC)
        return availability(info.context.engine.rulebook.working_time, self.row, absences, now)

    @strawberry.field(description="IANA time zone (their own, else their territory's default)")
    def time_zone(self, info: Info) -> str:
        return self._calendar(info).time_zone

    @strawberry.field(description="Weekly working hours in their time zone (own, else territory)")
    def working_hours(self, info: Info) -> list[WorkingDay]:
        return working_days(self._calendar(info).hours.as_spec())

    @strawberry.field(description="Country whose public holidays are their days off")
    def holiday_country(self, info: Info) -> str | None:
        return self._calendar(info).holiday_country

    @strawberry.field(description="State or region of the holiday country")
    def holiday_subdivision(self, info: Info) -> str | None:
        return self._calendar(info).holiday_subdivision

    @strawberry.field(
        description="Calendar settings that are the rep's own (the others come from the "
        "rulebook's territory default): timeZone, workingHours, holidayCountry"
    )
    def own_working_time(self) -> list[str]:
        own = [("timeZone", self.row.time_zone), ("workingHours", self.row.working_hours)]
        own.append(("holidayCountry", self.row.holiday_country))
        return [name for name, value in own if value is not None]

    @strawberry.field(description="Can routing give them a lead now (hours, holidays, away)")
    async def available_now(self, info: Info) -> bool:
        return (await self._availability(info, None)).available

    @strawberry.field(
        description="When they are next available: `after` itself when available then; null "
        "when not within five years"
    )
    async def next_available_at(
        self,
        info: Info,
        after: Annotated[
            datetime | None, strawberry.argument(description="From when (default: now)")
        ] = None,
    ) -> datetime | None:
        return (await self._availability(info, after)).next_available_at

    @strawberry.field(
        description='Why they are unavailable, e.g. "out of office until Mon 7 Dec 09:00 CET"; '
        "null when available"
    )
    async def unavailable_reason(
        self,
        info: Info,
        at: Annotated[datetime | None, strawberry.argument(description="Default: now")] = None,
    ) -> str | None:
        return (await self._availability(info, at)).reason

    @strawberry.field(description="Out-of-office periods not ended yet (or all), oldest first")
    async def out_of_office(
        self,
        info: Info,
        first: Annotated[int | None, strawberry.argument(description="Page size, ≤100")] = None,
        after: Annotated[str | None, strawberry.argument(description="endCursor")] = None,
        include_past: Annotated[
            bool, strawberry.argument(description="Also periods that have ended")
        ] = False,
    ) -> Connection[RepAbsence]:
        query = RepAbsenceRow.filter(rep_id=self.id)
        if not include_past:
            query = query.filter(ends_at__gt=datetime.now(UTC))
        return await id_connection(
            "absence", query, RepAbsence.from_row, first=first, after=after, newest_first=False
        )

    @strawberry.field(description="Pending handoffs they hold now (routing stops at capacity)")
    async def open_handoffs(self, info: Info) -> int:
        return await info.context.loaders.open_handoffs.load(self.id)

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        rows = await info.context.loaders.rep.load_many([int(i) for i in node_ids])
        return [cls.from_row(r) if r else None for r in rows]


def actor(info: Info) -> str:
    """Who the audit trail names for this request."""
    principal = info.context.principal
    return principal.actor if principal else "api"


@strawberry.input(description="A new sales rep, active from now on.")
class CreateRepInput:
    email: str = strawberry.field(description="Work email, unique")
    name: str = strawberry.field(description="Display name")
    territory: str = strawberry.field(description="Territory the routing rules match, e.g. NA")
    segments: list[str] = strawberry.field(
        default_factory=list, description="Segments covered, e.g. enterprise"
    )
    capacity: int = strawberry.field(default=50, description="Pending handoffs they can hold")


@strawberry.input(description="Change a rep. Omitted fields are kept.")
class UpdateRepInput:
    rep_id: relay.GlobalID = strawberry.field(description="The rep")
    name: str | None = strawberry.field(default=None, description="Display name")
    territory: str | None = strawberry.field(default=None, description="Territory")
    segments: list[str] | None = strawberry.field(default=None, description="Segments covered")
    capacity: int | None = strawberry.field(default=None, description="Handoff capacity")
    active: bool | None = strawberry.field(
        default=None, description="false deactivates (pending handoffs are re-routed)"
    )


@strawberry.input(description="Deactivate a rep: the routing rules re-route their handoffs.")
class DeactivateRepInput:
    rep_id: relay.GlobalID = strawberry.field(description="The rep")


@strawberry.type(description="Where a pending handoff of a deactivated rep went.")
class ReroutedHandoff:
    handoff_id: relay.GlobalID = strawberry.field(description="The handoff")
    new_owner: SalesRep | None = strawberry.field(
        description="Its new owner; null when no rep is eligible (a handoff_unrouted event)"
    )
    why: str = strawberry.field(description="The routing rules' explanation")


@strawberry.type(description="Result of a rep mutation.")
class RepPayload:
    rep: SalesRep | None = strawberry.field(description="The rep after the change")
    rerouted: list[ReroutedHandoff] = strawberry.field(
        description="Pending handoffs re-routed because the rep was deactivated"
    )
    user_errors: list[UserError] = strawberry.field(description="Empty on success")


def _failed(exc: LeadgateError) -> RepPayload:
    return RepPayload(rep=None, rerouted=[], user_errors=[user_error(exc)])


async def _update(info: Info, rep_id: int, changes: service.RepChanges) -> RepPayload:
    row, reroutes = await service.update_rep(
        rep_id=rep_id, changes=changes, actor=actor(info), engine=info.context.engine
    )
    owners = {
        r.id: SalesRep.from_row(r)
        for r in await SalesRepRow.filter(
            id__in=[x.new_owner_id for x in reroutes if x.new_owner_id]
        )
    }
    return RepPayload(
        rep=SalesRep.from_row(row),
        rerouted=[
            ReroutedHandoff(
                handoff_id=relay.GlobalID("Handoff", str(r.handoff_id)),
                new_owner=owners.get(r.new_owner_id) if r.new_owner_id else None,
                why=r.why,
            )
            for r in reroutes
        ],
        user_errors=[],
    )


@strawberry.type
class RepQueries:
    @strawberry.field(description="Sales reps with their capacity and open handoffs, by id")
    async def reps(
        self,
        info: Info,
        first: Annotated[int | None, strawberry.argument(description="Page size, ≤100")] = None,
        after: Annotated[str | None, strawberry.argument(description="endCursor")] = None,
        active: Annotated[
            bool | None, strawberry.argument(description="Only active (or inactive) reps")
        ] = None,
        territory: Annotated[
            str | None, strawberry.argument(description="Only this territory")
        ] = None,
    ) -> Connection[SalesRep]:
        query = SalesRepRow.all()
        if active is not None:
            query = query.filter(active=active)
        if territory is not None:
            query = query.filter(territory=territory)
        return await id_connection(
            "rep", query, SalesRep.from_row, first=first, after=after, newest_first=False
        )


@strawberry.type
class RepMutations:
    @strawberry.mutation(description="Create a sales rep that routing can assign handoffs to")
    async def create_rep(self, info: Info, input: CreateRepInput) -> RepPayload:
        try:
            row = await service.create_rep(
                email=input.email,
                name=input.name,
                territory=input.territory,
                segments=input.segments,
                capacity=input.capacity,
                actor=actor(info),
            )
        except LeadgateError as exc:
            return _failed(exc)
        return RepPayload(rep=SalesRep.from_row(row), rerouted=[], user_errors=[])

    @strawberry.mutation(description="Change a rep's territory, segments, capacity or status")
    async def update_rep(self, info: Info, input: UpdateRepInput) -> RepPayload:
        try:
            changes = service.RepChanges(
                name=input.name,
                territory=input.territory,
                segments=input.segments,
                capacity=input.capacity,
                active=input.active,
            )
            return await _update(info, node_id(input.rep_id, "SalesRep", "repId"), changes)
        except LeadgateError as exc:
            return _failed(exc)

    @strawberry.mutation(description="Deactivate a rep and re-route their pending handoffs")
    async def deactivate_rep(self, info: Info, input: DeactivateRepInput) -> RepPayload:
        try:
            rep_id = node_id(input.rep_id, "SalesRep", "repId")
            return await _update(info, rep_id, service.RepChanges(active=False))
        except LeadgateError as exc:
            return _failed(exc)
