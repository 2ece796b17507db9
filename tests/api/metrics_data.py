"""A small, hand-checked dataset for the metrics tests (dates in January-February 2026).

Every expected number in tests/api/test_metrics.py and tests/schema/test_metrics.py is worked
out by hand from the comments here. All times are 12:00 UTC unless written otherwise.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from tortoise import Tortoise

from api.enums import DealStage, HandoffStatus
from api.enums import LifecycleStage as S
from api.locking import on_postgres
from api.models import (
    Account,
    Activity,
    Campaign,
    Deal,
    Handoff,
    Lead,
    LeadStageChange,
    SalesRep,
)

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def at(month: int, day: int, hour: int = 12) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


# id: (created, source, campaign, account, owner, current stage, [(to_stage, when)])
LEADS = {
    1: (at(1, 5), "webinar", 1, 1, 1, S.CUSTOMER, [
        (S.ENGAGED, at(1, 9)), (S.MQL, at(1, 10)), (S.SAL, at(1, 11)), (S.SQL, at(1, 15)),
        (S.OPPORTUNITY, at(1, 20)), (S.CUSTOMER, at(2, 10))]),
    2: (at(1, 6), "paid", 2, 2, None, S.RECYCLED, [
        (S.ENGAGED, at(1, 9)), (S.MQL, at(1, 12)), (S.RECYCLED, at(1, 13))]),
    3: (at(1, 20), "webinar", 1, 3, 2, S.OPPORTUNITY, [
        (S.ENGAGED, at(1, 22)), (S.MQL, at(1, 25)), (S.SAL, at(1, 26)), (S.SQL, at(2, 1)),
        (S.OPPORTUNITY, at(2, 5))]),
    4: (at(1, 25), "paid", 2, 1, None, S.NEW, []),
    5: (at(2, 3), "paid", 3, 2, None, S.ENGAGED, [(S.ENGAGED, at(2, 5))]),
    6: (at(2, 10), None, None, 3, None, S.NEW, []),
    7: (at(1, 28), "webinar", 1, 3, None, S.MQL, [(S.MQL, at(1, 29, 0))]),
    8: (at(2, 1), "webinar", 3, 1, 2, S.SQL, [(S.SQL, at(2, 12))]),
}  # fmt: skip

# id: (lead, owner, status, created, deadline, decided, reason)
HANDOFFS = {
    1: (1, 1, HandoffStatus.ACCEPTED, at(1, 10, 10), at(1, 11, 10), at(1, 11, 9), None),
    2: (2, 2, HandoffStatus.REJECTED, at(1, 12, 10), at(1, 13, 10), at(1, 13, 12), "too_small"),
    3: (3, 2, HandoffStatus.ACCEPTED, at(1, 25, 10), at(1, 26, 10), at(1, 26, 8), None),
    4: (7, 1, HandoffStatus.EXPIRED, at(1, 29, 10), at(1, 30, 10), None, None),
    5: (6, 1, HandoffStatus.PENDING, at(2, 20, 10), at(3, 5, 10), None, None),
}

# id: (account, lead, owner, stage, amount, created, closed, reason)
DEALS = {
    1: (1, 1, 1, DealStage.CLOSED_WON, "12000.00", at(1, 20), at(2, 10), None),
    2: (3, 3, 2, DealStage.PROPOSAL, "8000.50", at(2, 5), None, None),
    3: (2, None, 2, DealStage.CLOSED_LOST, "5000.00", at(1, 15), at(2, 20), "price"),
    4: (6, None, 1, DealStage.CLOSED_WON, "3000.25", at(1, 2), at(1, 20), None),
    5: (5, None, 1, DealStage.CLOSED_WON, "1000.00", at(1, 10), at(2, 15), None),
}

SALES_COST_PER_MONTH = Decimal("2000.00")


async def _reset_sequences(tables: list[str]) -> None:
    """Rows carry explicit ids: move PostgreSQL's sequences past them for later inserts."""
    if not on_postgres():
        return
    conn = Tortoise.get_connection("default")
    for table in tables:
        await conn.execute_query(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))"
        )


async def load() -> None:
    await Campaign.bulk_create(
        [
            Campaign(id=1, key="webinar-q1", name="Q1 webinar", channel="webinar",
                     starts_on=date(2026, 1, 10), cost=Decimal("3000.00")),
            Campaign(id=2, key="ads-jan", name="January ads", channel="paid",
                     starts_on=date(2026, 1, 5), cost=Decimal("1500.50")),
            Campaign(id=3, key="ads-feb", name="February ads", channel="paid",
                     starts_on=date(2026, 2, 1), cost=Decimal("1000.00")),
        ]
    )  # fmt: skip
    await Account.bulk_create(
        [
            Account(id=1, domain="acme.com", segment="enterprise", customer_since=at(2, 10)),
            Account(id=2, domain="beta.io", segment="smb"),
            Account(id=3, domain="gamma.com", segment="mid_market"),
            Account(id=4, domain="delta.com", segment="enterprise",
                    customer_since=datetime(2025, 6, 1, tzinfo=UTC), churned_at=at(2, 15)),
            Account(id=5, domain="eps.com", segment="smb",
                    customer_since=datetime(2025, 9, 1, tzinfo=UTC)),
            Account(id=6, domain="zeta.com", segment="smb", customer_since=at(1, 20)),
        ]
    )  # fmt: skip
    await SalesRep.bulk_create(
        [
            SalesRep(id=1, email="ana@leadgate.test", name="Ana", territory="NA"),
            SalesRep(id=2, email="ben@leadgate.test", name="Ben", territory="NA"),
        ]
    )
    await Lead.bulk_create(
        [
            Lead(id=i, email=f"l{i}@example.com", created_at=created, source=source,
                 first_campaign_id=campaign, account_id=account, owner_id=owner, stage=stage,
                 stage_entered_at=moves[-1][1] if moves else None)
            for i, (created, source, campaign, account, owner, stage, moves) in LEADS.items()
        ]
    )  # fmt: skip
    changes = []
    for i, (created, *_, moves) in LEADS.items():
        previous, entered = S.NEW, created  # each change entered from_stage at the one before
        for target, when in moves:
            changes.append(
                LeadStageChange(
                    lead_id=i,
                    from_stage=previous,
                    to_stage=target,
                    entered_from_at=entered,
                    changed_at=when,
                )
            )
            previous, entered = target, when
    # A refused move counts nowhere.
    changes.append(
        LeadStageChange(
            lead_id=4,
            from_stage=S.NEW,
            to_stage=S.CUSTOMER,
            applied=False,
            entered_from_at=LEADS[4][0],
            changed_at=at(1, 30),
        )
    )
    await LeadStageChange.bulk_create(changes)
    activities = {1: [at(1, 6), at(1, 9), at(2, 2)], 2: [at(1, 7)],
                  3: [at(1, 21), at(1, 23), at(1, 24)], 5: [at(2, 4), at(2, 6)]}  # fmt: skip
    await Activity.bulk_create(
        [
            Activity(lead_id=lead, type="page_view", occurred_at=when)
            for lead, times in activities.items()
            for when in times
        ]
    )
    await Handoff.bulk_create(
        [
            Handoff(id=i, lead_id=lead, owner_id=owner, status=status, created_at=created,
                    sla_deadline=deadline, decided_at=decided, reason_code=reason,
                    breached_at=deadline if status == HandoffStatus.EXPIRED else None)
            for i, (lead, owner, status, created, deadline, decided, reason) in HANDOFFS.items()
        ]
    )  # fmt: skip
    await Deal.bulk_create(
        [
            Deal(id=i, name=f"deal {i}", account_id=account, lead_id=lead, owner_id=owner,
                 stage=stage, amount=Decimal(amount), created_at=created, closed_at=closed,
                 close_reason=reason)
            for i, (account, lead, owner, stage, amount, created, closed, reason) in DEALS.items()
        ]
    )  # fmt: skip
    await _reset_sequences(["campaign", "account", "sales_rep", "lead", "handoff", "deal"])
