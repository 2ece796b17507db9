"""Working time in GraphQL: out-of-office periods (by the rep's own key or an admin) and a rep's
own calendar (admin). The SalesRep fields that read calendars live in schema/reps.py."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Self

import strawberry
from strawberry import relay

from api import worktime as service
from api.auth import Principal
from api.enums import Role
from api.errors import InvalidInput, LeadgateError, PermissionDenied
from api.models import RepAbsence as RepAbsenceRow
from api.models import SalesRep as SalesRepRow
from schema.context import Info
from schema.errors import UserError, user_error
from schema.ids import node_id

if TYPE_CHECKING:
    from schema.reps import SalesRep


@strawberry.type(description="Working intervals of one weekday, in the rep's time zone.")
class WorkingDay:
    day: str = strawberry.field(description="mon, tue, wed, thu, fri, sat or sun")
    intervals: list[str] = strawberry.field(description='e.g. ["09:00-12:00", "13:00-17:00"]')


def working_days(spec: dict[str, list[str]]) -> list[WorkingDay]:
    return [WorkingDay(day=day, intervals=list(spans)) for day, spans in spec.items()]


@strawberry.type(description="An out-of-office period: routing skips the rep meanwhile.")
class RepAbsence(relay.Node):
    id: relay.NodeID[int]
    starts_at: datetime = strawberry.field(description="Away from (inclusive)")
    ends_at: datetime = strawberry.field(description="Back at (exclusive)")
    note: str = strawberry.field(description="Free text, e.g. parental leave")
    set_by: str = strawberry.field(description="Who set it (the key's name)")
    created_at: datetime = strawberry.field(description="Set at")
    rep_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: RepAbsenceRow) -> Self:
        return cls(
            id=row.id,
            starts_at=row.starts_at,
            ends_at=row.ends_at,
            note=row.note,
            set_by=row.set_by,
            created_at=row.created_at,
            rep_id=row.rep_id,  # type: ignore[attr-defined]
        )

    @strawberry.field(description="The rep who is away")
    async def rep(self, info: Info) -> Annotated[SalesRep, strawberry.lazy("schema.reps")] | None:
        from schema.reps import SalesRep

        row = await info.context.loaders.rep.load(self.rep_id)
        return SalesRep.from_row(row) if row else None

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: list[str], required: bool = False
    ) -> list[Self | None]:
        ids = [int(i) for i in node_ids]
        rows = {r.id: r for r in await RepAbsenceRow.filter(id__in=ids)}
        return [cls.from_row(rows[i]) if i in rows else None for i in ids]


@strawberry.input(description="Working intervals for a day or a range of days.")
class WorkingDayInput:
    days: str = strawberry.field(description="A day (mon) or a range (mon-fri)")
    intervals: list[str] = strawberry.field(description='e.g. ["09:00-17:00"]')


@strawberry.input(description="A rep's own calendar; a null field takes the territory default.")
class SetRepWorkingTimeInput:
    rep_id: relay.GlobalID = strawberry.field(description="The rep")
    time_zone: str | None = strawberry.field(default=None, description="IANA, e.g. Europe/Paris")
    working_hours: list[WorkingDayInput] | None = strawberry.field(
        default=None, description="Weekly hours; days not listed are days off"
    )
    holiday_country: str | None = strawberry.field(
        default=None, description="Public holidays of this country are days off (ISO 3166)"
    )
    holiday_subdivision: str | None = strawberry.field(
        default=None, description="State or region of the holiday country, e.g. BY"
    )


@strawberry.input(description="An out-of-office period for a rep.")
class AddRepAbsenceInput:
    rep_id: relay.GlobalID = strawberry.field(description="The rep (a rep's key: their own)")
    starts_at: datetime = strawberry.field(description="Away from")
    ends_at: datetime = strawberry.field(description="Back at")
    note: str = strawberry.field(default="", description="Free text, ≤ 500 characters")


@strawberry.input(description="Remove an out-of-office period.")
class RemoveRepAbsenceInput:
    absence_id: relay.GlobalID = strawberry.field(description="The period")


@strawberry.type(description="Result of an out-of-office change.")
class RepAbsencePayload:
    absence: RepAbsence | None = strawberry.field(description="The period added or removed")
    user_errors: list[UserError] = strawberry.field(description="Empty on success")


@strawberry.type(description="Result of setting a rep's calendar.")
class RepWorkingTimePayload:
    rep: Annotated[SalesRep, strawberry.lazy("schema.reps")] | None = strawberry.field(
        description="The rep after the change"
    )
    user_errors: list[UserError] = strawberry.field(description="Empty on success")


def _principal(info: Info) -> Principal | None:
    return info.context.principal


def _may_manage(info: Info, rep_id: int) -> None:
    """A rep's own key, or a key of a role that manages reps (admin, RevOps)."""
    principal = _principal(info)
    if principal is None or principal.role in (Role.ADMIN, Role.REVOPS):
        return
    if principal.rep_id != rep_id:
        raise PermissionDenied(
            "only the rep's own key or an admin may change their out-of-office periods",
            field="repId",
            suggestion="use a sales key bound to this rep, or an admin key",
        )


@strawberry.type
class WorkTimeMutations:
    @strawberry.mutation(description="Add an out-of-office period (the rep's own key or admin)")
    async def add_rep_absence(self, info: Info, input: AddRepAbsenceInput) -> RepAbsencePayload:
        from schema.reps import actor

        try:
            rep_id = node_id(input.rep_id, "SalesRep", "repId")
            _may_manage(info, rep_id)
            row = await service.add_absence(
                rep_id=rep_id,
                starts_at=input.starts_at,
                ends_at=input.ends_at,
                note=input.note,
                actor=actor(info),
            )
        except LeadgateError as exc:
            return RepAbsencePayload(absence=None, user_errors=[user_error(exc)])
        return RepAbsencePayload(absence=RepAbsence.from_row(row), user_errors=[])

    @strawberry.mutation(description="Remove an out-of-office period (own key or admin)")
    async def remove_rep_absence(
        self, info: Info, input: RemoveRepAbsenceInput
    ) -> RepAbsencePayload:
        from schema.reps import actor

        try:
            absence_id = node_id(input.absence_id, "RepAbsence", "absenceId")
            found = await RepAbsenceRow.get_or_none(id=absence_id)
            if found is not None:
                try:
                    _may_manage(info, found.rep_id)  # type: ignore[attr-defined]
                except PermissionDenied as exc:
                    exc.field = "absenceId"
                    raise
            row = await service.remove_absence(absence_id=absence_id, actor=actor(info))
        except LeadgateError as exc:
            return RepAbsencePayload(absence=None, user_errors=[user_error(exc)])
        return RepAbsencePayload(absence=RepAbsence.from_row(row), user_errors=[])

    @strawberry.mutation(description="Set a rep's own time zone, hours and holidays (admin)")
    async def set_rep_working_time(
        self, info: Info, input: SetRepWorkingTimeInput
    ) -> RepWorkingTimePayload:
        from schema.reps import SalesRep, actor

        try:
            hours = None
            if input.working_hours is not None:
                hours = {d.days: list(d.intervals) for d in input.working_hours}
                if len(hours) != len(input.working_hours):
                    raise InvalidInput("a day is listed twice", field="workingHours")
            row: SalesRepRow = await service.set_working_time(
                rep_id=node_id(input.rep_id, "SalesRep", "repId"),
                settings=service.WorkingTimeSettings(
                    time_zone=input.time_zone,
                    working_hours=hours,
                    holiday_country=input.holiday_country,
                    holiday_subdivision=input.holiday_subdivision,
                ),
                actor=actor(info),
            )
        except LeadgateError as exc:
            return RepWorkingTimePayload(rep=None, user_errors=[user_error(exc)])
        return RepWorkingTimePayload(rep=SalesRep.from_row(row), user_errors=[])
