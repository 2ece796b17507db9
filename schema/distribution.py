"""Who got which lead and was it fair: a handoff's owner history, and the fairness report of
a route's pool (api/fairness.py) for RevOps, admins and sales managers."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Annotated, Self

import strawberry
from strawberry import relay

from api.fairness import RepFairness, fairness_report
from api.models import HandoffStep as HandoffStepRow
from schema.context import Info
from schema.loaders import by_id
from schema.reps import SalesRep


@strawberry.type(description="One owner change of a handoff and why it happened.")
class HandoffStep(relay.Node):
    id: relay.NodeID[int]
    step: int = strawberry.field(description="0 for the first owner, then one per change")
    kind: str = strawberry.field(
        description="assigned, escalated, fallback (to the fallback rep), queued (to the "
        "fallback queue), claimed (from the queue), rerouted (owner deactivated)"
    )
    queue: str | None = strawberry.field(description="The fallback queue (kind queued)")
    reason: str = strawberry.field(description="Why, in words (the pick's explanation)")
    at: datetime = strawberry.field(description="When")
    rep_id: strawberry.Private[int | None]

    @classmethod
    def from_row(cls, row: HandoffStepRow) -> Self:
        return cls(
            id=row.id,
            step=row.step,
            kind=row.kind,
            queue=row.queue,
            reason=row.reason,
            at=row.at,
            rep_id=row.rep_id,  # type: ignore[attr-defined]
        )

    @strawberry.field(description="The rep who got the handoff (null: a queue)")
    async def rep(self, info: Info) -> SalesRep | None:
        if self.rep_id is None:
            return None
        row = await info.context.loaders.rep.load(self.rep_id)
        return SalesRep.from_row(row) if row else None

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: strawberry.Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        rows = await by_id(HandoffStepRow)([int(i) for i in node_ids])
        return [cls.from_row(r) if r else None for r in rows]


@strawberry.type(description="One rep of a pool over one ISO week.")
class RepFairnessRow:
    name: str = strawberry.field(description="The rep's name")
    email: str = strawberry.field(description="The rep's email (how rule files name reps)")
    weight: float = strawberry.field(description="Weight over the reps listed (sums to 1)")
    assigned: int = strawberry.field(description="Leads the route gave the rep")
    entitled: float = strawberry.field(
        description="Leads the weight entitled the rep to while eligible (active, free, "
        "available): entitlement does not accrue while away"
    )
    below_share: float = strawberry.field(description="entitled minus assigned (negative: above)")
    owed: float = strawberry.field(description="Missed while away, still to repay (catch-up)")
    offered: int = strawberry.field(description="Handoffs given (first owner or escalation)")
    accepted: int = strawberry.field(description="Of those, accepted by the rep")
    acceptance_rate: float | None = strawberry.field(description="accepted / offered")
    mean_accept_hours: float | None = strawberry.field(
        description="Mean hours from getting the handoff to accepting it"
    )
    mean_first_touch_hours: float | None = strawberry.field(
        description="Mean hours from the chain's first handoff to the accept (the SLA's view)"
    )
    rep_id: strawberry.Private[int]

    @classmethod
    def build(cls, row: RepFairness) -> Self:
        return cls(
            name=row.name,
            email=row.email,
            weight=row.weight,
            assigned=row.assigned,
            entitled=row.entitled,
            below_share=row.below_share,
            owed=row.owed,
            offered=row.offered,
            accepted=row.accepted,
            acceptance_rate=row.acceptance_rate,
            mean_accept_hours=row.mean_accept_hours,
            mean_first_touch_hours=row.mean_first_touch_hours,
            rep_id=row.rep_id,
        )

    @strawberry.field(description="The rep")
    async def rep(self, info: Info) -> SalesRep | None:
        row = await info.context.loaders.rep.load(self.rep_id)
        return SalesRep.from_row(row) if row else None


@strawberry.type(description="Assignments against entitled shares in one pool for one week.")
class FairnessReport:
    route: str = strawberry.field(description="The route whose pool this is")
    period_start: date = strawberry.field(description="Monday of the ISO week (UTC)")
    period_end: date = strawberry.field(description="The next Monday (excluded)")
    reps: list[RepFairnessRow] = strawberry.field(description="Per rep, by id")


@strawberry.type
class DistributionQueries:
    @strawberry.field(
        description="Per rep of a route's pool for one ISO week: leads assigned against the "
        "share weight and availability entitle them to, acceptance rate and times"
    )
    async def fairness_report(
        self,
        info: Info,
        route: Annotated[str, strawberry.argument(description="Route name in the rulebook")],
        day: Annotated[
            date | None,
            strawberry.argument(description="Any day of the ISO week (default: this week)"),
        ] = None,
    ) -> FairnessReport:
        report = await fairness_report(
            book=info.context.engine.rulebook,
            route=route,
            day=day or datetime.now(UTC).date(),
        )
        return FairnessReport(
            route=report.route,
            period_start=report.period_start,
            period_end=report.period_end,
            reps=[RepFairnessRow.build(r) for r in report.reps],
        )
