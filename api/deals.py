"""Deals: the opportunity stage machine and won/lost with their effects on accounts and leads.
Churn, which ends the customer relationship a win starts, is in api/churn.py; what a deal's
fields may hold, in api/deal_checks.py.

``discovery → demo → proposal → negotiation → closed_won | closed_lost``. Open deals move
forward (skipping is allowed); closing goes through ``close_deal`` so that the reason, the
account and the feedback are handled together; a closed deal only changes through
``reopen_deal`` with a reason. Every mutation takes the version the caller read
(optimistic concurrency): a stale version is refused rather than silently overwritten.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from tortoise.transactions import in_transaction

from api.deal_checks import check_amount, check_currency, check_name, check_owner
from api.engine import RulesEngine
from api.enums import DealStage, FeedbackKind, LifecycleStage
from api.errors import IllegalTransition, InvalidInput, NotFound, StaleVersion
from api.feedback import record_feedback
from api.locking import for_update
from api.models import Account, Deal, DealStageChange, DomainEvent, Lead
from api.stage_moves import move_lead

OPEN_STAGES: tuple[DealStage, ...] = (
    DealStage.DISCOVERY,
    DealStage.DEMO,
    DealStage.PROPOSAL,
    DealStage.NEGOTIATION,
)
CLOSED_STAGES = frozenset({DealStage.CLOSED_WON, DealStage.CLOSED_LOST})
# Leads sales has accepted: only these become opportunities.
ACCEPTED_LEAD_STAGES = frozenset({LifecycleStage.SAL, LifecycleStage.SQL})


class _Unset:
    """Marks an update field the caller did not send (None may be a real value)."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET = _Unset()


@dataclass(frozen=True, slots=True)
class DealChanges:
    """Fields ``update_deal`` may change; UNSET leaves a field as it is."""

    name: str | _Unset = UNSET
    amount: Decimal | _Unset = UNSET
    currency: str | _Unset = UNSET
    owner_id: int | _Unset | None = UNSET
    expected_close_on: date | _Unset | None = UNSET


async def _locked_deal(deal_id: int, expected_version: int) -> Deal:
    deal = await for_update(Deal.filter(id=deal_id)).first()
    if deal is None:
        raise NotFound(f"no deal with id {deal_id}", field="dealId")
    if deal.version != expected_version:
        raise StaleVersion(
            f"deal {deal_id} is at version {deal.version}, not {expected_version}",
            field="expectedVersion",
            suggestion="reload the deal and apply your change again",
        )
    return deal


async def _record_move(deal: Deal, target: DealStage, actor: str, now: datetime) -> None:
    await DealStageChange.create(
        deal_id=deal.id, from_stage=deal.stage, to_stage=target, changed_by=actor, changed_at=now
    )
    deal.stage = target
    deal.version += 1


async def create_deal(
    *,
    name: str,
    amount: Decimal,
    currency: str,
    actor: str,
    lead_id: int | None = None,
    account_id: int | None = None,
    owner_id: int | None = None,
    expected_close_on: date | None = None,
    now: datetime | None = None,
) -> Deal:
    """A deal from an accepted lead (SAL/SQL → opportunity, the lead's account and owner) or
    directly for an account. One of ``lead_id``/``account_id`` is needed."""
    now = now or datetime.now(UTC)
    name = check_name(name)
    amount = check_amount(amount)
    currency = check_currency(currency)
    if lead_id is None and account_id is None:
        raise InvalidInput(
            "a deal needs a lead or an account", field="leadId", suggestion="pass leadId"
        )
    async with in_transaction():
        lead = None
        if lead_id is not None:
            lead = await for_update(Lead.filter(id=lead_id)).first()
            if lead is None:
                raise NotFound(f"no lead with id {lead_id}", field="leadId")
            if lead.stage not in ACCEPTED_LEAD_STAGES:
                raise IllegalTransition(
                    f"lead {lead_id} is {lead.stage}: only sales-accepted leads become deals",
                    field="leadId",
                    suggestion="accept the lead's handoff first (stage sal or sql)",
                )
            lead_account = lead.account_id  # type: ignore[attr-defined]
            if lead_account is None:
                raise InvalidInput(
                    f"lead {lead_id} has no account",
                    field="leadId",
                    suggestion="send the lead's company, or create the deal for an account",
                )
            if account_id is not None and account_id != lead_account:
                raise InvalidInput(
                    f"lead {lead_id} belongs to account {lead_account}, not {account_id}",
                    field="accountId",
                    suggestion="omit accountId: it comes from the lead",
                )
            account_id = lead_account
            if owner_id is None:
                owner_id = lead.owner_id  # type: ignore[attr-defined]
        elif not await Account.exists(id=account_id):
            raise NotFound(f"no account with id {account_id}", field="accountId")
        await check_owner(owner_id)
        deal = await Deal.create(
            name=name,
            account_id=account_id,
            lead_id=lead_id,
            owner_id=owner_id,
            amount=amount,
            currency=currency,
            expected_close_on=expected_close_on,
            created_at=now,
        )
        await DealStageChange.create(
            deal_id=deal.id, from_stage=None, to_stage=deal.stage, changed_by=actor, changed_at=now
        )
        if lead is not None:
            await move_lead(
                lead, LifecycleStage.OPPORTUNITY, reason="deal created", actor=actor, now=now
            )
        return deal


async def move_deal_stage(
    *,
    deal_id: int,
    stage: DealStage,
    expected_version: int,
    actor: str,
    now: datetime | None = None,
) -> Deal:
    """Move an open deal forward. Closing and reopening have their own functions."""
    now = now or datetime.now(UTC)
    if stage in CLOSED_STAGES:
        raise IllegalTransition(
            f"{stage} is reached by closing the deal",
            field="stage",
            suggestion="use closeDeal, which records the reason and the outcome",
        )
    async with in_transaction():
        deal = await _locked_deal(deal_id, expected_version)
        if deal.stage in CLOSED_STAGES:
            raise IllegalTransition(
                f"deal {deal_id} is {deal.stage}",
                field="stage",
                suggestion="a closed deal changes only through reopenDeal, with a reason",
            )
        if OPEN_STAGES.index(stage) <= OPEN_STAGES.index(deal.stage):
            later = ", ".join(OPEN_STAGES[OPEN_STAGES.index(deal.stage) + 1 :]) or "none"
            raise IllegalTransition(
                f"a deal cannot move from {deal.stage} back or to the same stage {stage}",
                field="stage",
                suggestion=f"forward stages: {later}, or closeDeal",
            )
        await _record_move(deal, stage, actor, now)
        await deal.save(update_fields=["stage", "version", "updated_at"])
        return deal


async def close_deal(
    *,
    engine: RulesEngine,
    deal_id: int,
    won: bool,
    expected_version: int,
    actor: str,
    reason: str | None = None,
    note: str | None = None,
    now: datetime | None = None,
) -> Deal:
    """Won makes the account a customer (and the lead, when it is the opportunity); lost needs a
    ``reasons.lost`` code. Both send feedback to marketing through the feedback rules."""
    now = now or datetime.now(UTC)
    if not won:
        if not reason:
            raise InvalidInput(
                "a lost deal needs a reason", field="reason", suggestion="a reasons.lost code"
            )
        engine.check_reason("lost", reason, field="reason")
    elif reason is not None and len(reason) > 50:
        raise InvalidInput("reason has more than 50 characters", field="reason")
    target = DealStage.CLOSED_WON if won else DealStage.CLOSED_LOST
    async with in_transaction():
        deal = await _locked_deal(deal_id, expected_version)
        if deal.stage in CLOSED_STAGES:
            raise IllegalTransition(
                f"deal {deal_id} is already {deal.stage}",
                field="dealId",
                suggestion="reopenDeal first, with a reason",
            )
        before = deal.stage
        await _record_move(deal, target, actor, now)
        deal.closed_at = now
        deal.close_reason = reason
        await deal.save(
            update_fields=["stage", "version", "closed_at", "close_reason", "updated_at"]
        )
        lead = None
        if deal.lead_id is not None:  # type: ignore[attr-defined]
            lead = await for_update(Lead.filter(id=deal.lead_id)).first()  # type: ignore[attr-defined]
        if won:
            await _make_customer(deal.account_id, now)  # type: ignore[attr-defined]
        if lead is not None and lead.stage == LifecycleStage.OPPORTUNITY:
            lead_target = LifecycleStage.CUSTOMER if won else lead_stage_after_loss(engine, reason)
            await move_lead(
                lead,
                lead_target,
                reason="deal won" if won else reason,
                actor=actor,
                now=now,
                clear_owner=not won,
            )
        await record_feedback(
            engine=engine,
            kind=FeedbackKind.WON if won else FeedbackKind.LOST,
            reason=reason,
            note=note,
            lead=lead,
            deal_id=deal.id,
            rep_id=deal.owner_id,  # type: ignore[attr-defined]
            account_id=deal.account_id,  # type: ignore[attr-defined]
            now=now,
        )
        await DomainEvent.create(  # webhooks send it as deal.won / deal.lost
            kind="deal_closed",
            subject_id=deal.owner_id,  # type: ignore[attr-defined]
            payload={
                "deal": deal.id,
                "lead": deal.lead_id,  # type: ignore[attr-defined]
                "account": deal.account_id,  # type: ignore[attr-defined]
                "owner": deal.owner_id,  # type: ignore[attr-defined]
                "from": before.value,
                "to": target.value,
                "amount": str(deal.amount),
                "currency": deal.currency,
                "reason": reason,
            },
        )
        return deal


def lead_stage_after_loss(engine: RulesEngine, reason: str | None) -> LifecycleStage:
    """Where the rulebook sends the lead of a lost deal: a lost reason that is also one of its
    ``reasons.disqualify`` codes disqualifies the lead, any other goes back to nurture."""
    if reason is not None and reason in engine.rulebook.reason_codes("disqualify"):
        return LifecycleStage.DISQUALIFIED
    return LifecycleStage.RECYCLED


async def _make_customer(account_id: int, now: datetime) -> None:
    """The first win (or a win after churn) starts a customer relationship."""
    account = await for_update(Account.filter(id=account_id)).get()
    if account.customer_since is None or account.churned_at is not None:
        account.customer_since = now
        account.churned_at = None
        await account.save(update_fields=["customer_since", "churned_at", "updated_at"])


async def reopen_deal(
    *,
    deal_id: int,
    reason: str,
    expected_version: int,
    actor: str,
    stage: DealStage = DealStage.NEGOTIATION,
    now: datetime | None = None,
) -> Deal:
    """The only way back from a closed stage. The account keeps its customer status: a later
    loss does not undo a relationship that started (churn ends it)."""
    now = now or datetime.now(UTC)
    if not reason.strip():
        raise InvalidInput("reopening a deal needs a reason", field="reason")
    if stage in CLOSED_STAGES:
        raise IllegalTransition(
            f"a deal is reopened to an open stage, not {stage}",
            field="stage",
            suggestion=f"one of: {', '.join(OPEN_STAGES)}",
        )
    async with in_transaction():
        deal = await _locked_deal(deal_id, expected_version)
        if deal.stage not in CLOSED_STAGES:
            raise IllegalTransition(
                f"deal {deal_id} is open ({deal.stage})",
                field="dealId",
                suggestion="only closed deals are reopened; use moveDealStage",
            )
        closed_as = deal.stage
        await _record_move(deal, stage, actor, now)
        deal.closed_at = None
        deal.close_reason = None
        await deal.save(
            update_fields=["stage", "version", "closed_at", "close_reason", "updated_at"]
        )
        # DealStageChange has no reason column: the reason goes to the event log.
        await DomainEvent.create(
            kind="deal_reopened",
            subject_id=deal.id,
            payload={"from": closed_as.value, "to": stage.value, "reason": reason, "by": actor},
        )
        return deal


async def update_deal(
    *, deal_id: int, expected_version: int, changes: DealChanges, actor: str
) -> Deal:
    """Change the deal's facts. Amount and currency of a closed deal are what was booked:
    they change only after reopening."""
    fields: dict[str, object] = {}
    if not isinstance(changes.name, _Unset):
        fields["name"] = check_name(changes.name)
    if not isinstance(changes.amount, _Unset):
        fields["amount"] = check_amount(changes.amount)
    if not isinstance(changes.currency, _Unset):
        fields["currency"] = check_currency(changes.currency)
    if not isinstance(changes.owner_id, _Unset):
        fields["owner_id"] = changes.owner_id
    if not isinstance(changes.expected_close_on, _Unset):
        fields["expected_close_on"] = changes.expected_close_on
    if not fields:
        raise InvalidInput("nothing to change", suggestion="send at least one field to change")
    async with in_transaction():
        deal = await _locked_deal(deal_id, expected_version)
        if "owner_id" in fields:
            await check_owner(changes.owner_id)  # type: ignore[arg-type]
        if deal.stage in CLOSED_STAGES and {"amount", "currency"} & fields.keys():
            raise IllegalTransition(
                f"deal {deal_id} is {deal.stage}: its amount is booked",
                field="amount" if "amount" in fields else "currency",
                suggestion="reopenDeal first",
            )
        for key, value in fields.items():
            setattr(deal, key, value)
        deal.version += 1
        await deal.save(update_fields=[*fields, "version", "updated_at"])
        return deal
