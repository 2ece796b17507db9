"""The deal stage machine, won/lost effects, optimistic concurrency and churn."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from starlette.applications import Starlette

from api.churn import churn_account
from api.deals import (
    DealChanges,
    close_deal,
    create_deal,
    move_deal_stage,
    reopen_deal,
    update_deal,
)
from api.engine import RulesEngine
from api.enums import DealStage, FeedbackKind, LifecycleStage
from api.errors import (
    Conflict,
    IllegalTransition,
    InvalidInput,
    LeadgateError,
    NotFound,
    StaleVersion,
)
from api.models import (
    Account,
    Deal,
    DealStageChange,
    DomainEvent,
    Feedback,
    Lead,
    LeadStageChange,
    SalesRep,
)

NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)


@pytest.fixture
def engine(app: Starlette) -> RulesEngine:
    engine: RulesEngine = app.state.engine
    return engine


@pytest.fixture
async def sal_lead(app: Starlette) -> Lead:
    account = await Account.create(domain="acme.com", segment="enterprise")
    rep = await SalesRep.create(email="ana@leadgate.test", name="Ana", territory="NA")
    return await Lead.create(
        email="cto@acme.com", account=account, owner=rep, stage=LifecycleStage.SAL
    )


async def new_deal(lead: Lead, amount: str = "12000.00") -> Deal:
    return await create_deal(
        name="Acme platform", amount=Decimal(amount), currency="eur", lead_id=lead.id,
        actor="test", now=NOW,
    )  # fmt: skip


async def test_a_deal_from_an_accepted_lead_makes_it_an_opportunity(sal_lead: Lead) -> None:
    deal = await new_deal(sal_lead)
    assert (deal.stage, deal.currency, deal.amount, deal.version) == (
        DealStage.DISCOVERY, "EUR", Decimal("12000.00"), 1,
    )  # fmt: skip
    assert deal.account_id == sal_lead.account_id  # type: ignore[attr-defined]
    assert deal.owner_id == sal_lead.owner_id  # type: ignore[attr-defined]
    lead = await Lead.get(id=sal_lead.id)
    assert lead.stage == LifecycleStage.OPPORTUNITY
    change = await LeadStageChange.get(lead_id=lead.id)
    assert (change.from_stage, change.to_stage) == (LifecycleStage.SAL, LifecycleStage.OPPORTUNITY)
    [history] = await DealStageChange.filter(deal_id=deal.id)
    assert [history.from_stage, history.to_stage] == [None, DealStage.DISCOVERY]


async def test_only_accepted_leads_become_deals(sal_lead: Lead) -> None:
    await Lead.filter(id=sal_lead.id).update(stage=LifecycleStage.MQL)
    with pytest.raises(IllegalTransition) as exc:
        await new_deal(sal_lead)
    assert exc.value.field == "leadId"
    assert await Deal.all().count() == 0


async def test_a_deal_directly_for_an_account(app: Starlette) -> None:
    account = await Account.create(domain="beta.io")
    deal = await create_deal(
        name="Beta", amount=Decimal(0), currency="USD", account_id=account.id, actor="t"
    )
    assert deal.lead_id is None  # type: ignore[attr-defined]
    with pytest.raises(NotFound) as exc:
        await create_deal(name="x", amount=Decimal(1), currency="USD", account_id=999, actor="t")
    assert exc.value.field == "accountId"


@pytest.mark.parametrize(
    ("amount", "currency", "field"),
    [
        ("-1", "USD", "amount"),
        ("1.001", "USD", "amount"),
        ("NaN", "USD", "amount"),
        ("10", "XXY", "currency"),
        ("10", "", "currency"),
    ],
)
async def test_bad_amounts_and_currencies_are_refused(
    sal_lead: Lead, amount: str, currency: str, field: str
) -> None:
    with pytest.raises(InvalidInput) as exc:
        await create_deal(
            name="x", amount=Decimal(amount), currency=currency, lead_id=sal_lead.id, actor="t"
        )
    assert exc.value.field == field
    assert (await Lead.get(id=sal_lead.id)).stage == LifecycleStage.SAL  # nothing half-written


async def test_stages_move_forward_skipping_allowed_never_back(sal_lead: Lead) -> None:
    deal = await new_deal(sal_lead)
    deal = await move_deal_stage(
        deal_id=deal.id, stage=DealStage.PROPOSAL, expected_version=1, actor="t"
    )
    assert (deal.stage, deal.version) == (DealStage.PROPOSAL, 2)
    for target in (DealStage.DEMO, DealStage.PROPOSAL, DealStage.CLOSED_WON):
        with pytest.raises(IllegalTransition) as exc:
            await move_deal_stage(deal_id=deal.id, stage=target, expected_version=2, actor="t")
        assert exc.value.field == "stage"
    history = await DealStageChange.filter(deal_id=deal.id).order_by("id")
    assert [(h.from_stage, h.to_stage) for h in history] == [
        (None, DealStage.DISCOVERY),
        (DealStage.DISCOVERY, DealStage.PROPOSAL),
    ]


async def test_a_stale_version_is_refused(sal_lead: Lead) -> None:
    deal = await new_deal(sal_lead)
    await move_deal_stage(deal_id=deal.id, stage=DealStage.DEMO, expected_version=1, actor="a")
    with pytest.raises(StaleVersion) as exc:
        await move_deal_stage(
            deal_id=deal.id, stage=DealStage.PROPOSAL, expected_version=1, actor="b"
        )
    assert exc.value.field == "expectedVersion"
    assert (await Deal.get(id=deal.id)).stage == DealStage.DEMO


async def test_winning_makes_a_customer_and_tells_marketing(
    sal_lead: Lead, engine: RulesEngine
) -> None:
    deal = await new_deal(sal_lead)
    won = await close_deal(
        engine=engine, deal_id=deal.id, won=True, expected_version=1, actor="t", now=NOW
    )
    assert (won.stage, won.closed_at, won.version) == (DealStage.CLOSED_WON, NOW, 2)
    account = await Account.get(id=deal.account_id)  # type: ignore[attr-defined]
    assert account.customer_since == NOW
    assert (await Lead.get(id=sal_lead.id)).stage == LifecycleStage.CUSTOMER
    feedback = await Feedback.get(deal_id=deal.id)
    assert (feedback.kind, feedback.segment) == (FeedbackKind.WON, "enterprise")


async def test_losing_needs_a_rulebook_reason(sal_lead: Lead, engine: RulesEngine) -> None:
    deal = await new_deal(sal_lead)
    for reason in (None, "bored"):
        with pytest.raises(InvalidInput) as exc:
            await close_deal(
                engine=engine, deal_id=deal.id, won=False, reason=reason, expected_version=1,
                actor="t",
            )  # fmt: skip
        assert exc.value.field == "reason"
    lost = await close_deal(
        engine=engine, deal_id=deal.id, won=False, reason="price", expected_version=1, actor="t"
    )
    assert (lost.stage, lost.close_reason) == (DealStage.CLOSED_LOST, "price")
    assert (await Feedback.get(deal_id=deal.id)).kind == FeedbackKind.LOST
    account = await Account.get(id=deal.account_id)  # type: ignore[attr-defined]
    assert account.customer_since is None
    assert (await Lead.get(id=sal_lead.id)).stage == LifecycleStage.RECYCLED  # back to nurture


async def test_closed_deals_change_only_through_reopen(sal_lead: Lead, engine: RulesEngine) -> None:
    deal = await new_deal(sal_lead)
    await close_deal(
        engine=engine, deal_id=deal.id, won=False, reason="price", expected_version=1, actor="t"
    )
    attempts: list[tuple[type[LeadgateError], str]] = []
    for call in (
        move_deal_stage(
            deal_id=deal.id, stage=DealStage.NEGOTIATION, expected_version=2, actor="t"
        ),
        close_deal(engine=engine, deal_id=deal.id, won=True, expected_version=2, actor="t"),
        update_deal(
            deal_id=deal.id, expected_version=2, changes=DealChanges(amount=Decimal(1)), actor="t"
        ),
    ):
        try:
            await call
        except LeadgateError as exc:
            attempts.append((type(exc), exc.field or ""))
    assert attempts == [
        (IllegalTransition, "stage"),
        (IllegalTransition, "dealId"),
        (IllegalTransition, "amount"),
    ]
    with pytest.raises(InvalidInput):
        await reopen_deal(deal_id=deal.id, reason=" ", expected_version=2, actor="t")
    reopened = await reopen_deal(
        deal_id=deal.id, reason="budget found", expected_version=2, actor="t"
    )
    assert (reopened.stage, reopened.closed_at, reopened.close_reason, reopened.version) == (
        DealStage.NEGOTIATION, None, None, 3,
    )  # fmt: skip
    event = await DomainEvent.get(kind="deal_reopened")
    assert event.payload["reason"] == "budget found"
    with pytest.raises(IllegalTransition) as open_deal:
        await reopen_deal(deal_id=deal.id, reason="again", expected_version=3, actor="t")
    assert open_deal.value.field == "dealId"


async def test_update_deal(sal_lead: Lead) -> None:
    deal = await new_deal(sal_lead)
    other = await SalesRep.create(email="ben@leadgate.test", name="Ben", territory="NA")
    updated = await update_deal(
        deal_id=deal.id,
        expected_version=1,
        changes=DealChanges(
            amount=Decimal("15000.50"), currency="gbp", owner_id=other.id,
            expected_close_on=date(2026, 6, 30),
        ),
        actor="t",
    )  # fmt: skip
    stored = await Deal.get(id=deal.id)
    assert (stored.amount, stored.currency, stored.owner_id, stored.expected_close_on) == (  # type: ignore[attr-defined]
        Decimal("15000.50"), "GBP", other.id, date(2026, 6, 30),
    )  # fmt: skip
    assert updated.version == stored.version == 2
    with pytest.raises(NotFound) as exc:
        await update_deal(
            deal_id=deal.id, expected_version=2, changes=DealChanges(owner_id=999), actor="t"
        )
    assert exc.value.field == "ownerId"
    with pytest.raises(InvalidInput):
        await update_deal(deal_id=deal.id, expected_version=2, changes=DealChanges(), actor="t")


async def test_churn_ends_the_customer_relationship(sal_lead: Lead, engine: RulesEngine) -> None:
    deal = await new_deal(sal_lead)
    account_id = deal.account_id  # type: ignore[attr-defined]
    with pytest.raises(IllegalTransition) as not_customer:
        await churn_account(
            engine=engine, account_id=account_id, churned_at=NOW, actor="t", now=NOW
        )
    assert not_customer.value.field == "accountId"
    await close_deal(
        engine=engine, deal_id=deal.id, won=True, expected_version=1, actor="t", now=NOW
    )
    later = NOW + timedelta(days=30)
    with pytest.raises(InvalidInput) as exc:
        await churn_account(
            engine=engine, account_id=account_id, churned_at=later, actor="t", now=NOW
        )
    assert exc.value.field == "churnedAt"  # in the future
    with pytest.raises(InvalidInput) as exc:
        await churn_account(
            engine=engine,
            account_id=account_id,
            churned_at=NOW - timedelta(days=1),
            actor="t",
            now=later,
        )
    assert exc.value.field == "churnedAt"  # before it became a customer
    account = await churn_account(
        engine=engine, account_id=account_id, churned_at=later, actor="t", now=later
    )
    assert account.churned_at == later
    with pytest.raises(Conflict):
        await churn_account(
            engine=engine, account_id=account_id, churned_at=later, actor="t", now=later
        )
