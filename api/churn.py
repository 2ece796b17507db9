"""Churn: a customer leaves, which ends the relationship a won deal started (retention counts
from it) and tells marketing through the feedback rules."""

from __future__ import annotations

from datetime import UTC, datetime

from tortoise.transactions import in_transaction

from api.engine import RulesEngine
from api.enums import DealStage, FeedbackKind
from api.errors import Conflict, IllegalTransition, InvalidInput, NotFound
from api.feedback import record_feedback
from api.locking import for_update
from api.models import Account, Deal, DomainEvent, Lead


async def churn_account(
    *,
    engine: RulesEngine,
    account_id: int,
    churned_at: datetime,
    actor: str,
    note: str | None = None,
    now: datetime | None = None,
) -> Account:
    """The customer left: retention counts it from ``churned_at`` on (an imported date may lie
    in the past, never in the future). Marketing hears it as ``churned`` feedback for the
    account's segment and the campaign that first brought its last won deal's lead."""
    now = now or datetime.now(UTC)
    if churned_at.tzinfo is None:
        raise InvalidInput("churnedAt needs a time zone", field="churnedAt")
    if churned_at > now:
        raise InvalidInput("churnedAt lies in the future", field="churnedAt")
    async with in_transaction():
        account = await for_update(Account.filter(id=account_id)).first()
        if account is None:
            raise NotFound(f"no account with id {account_id}", field="accountId")
        if account.customer_since is None:
            raise IllegalTransition(
                f"account {account_id} is not a customer",
                field="accountId",
                suggestion="only accounts with a won deal can churn",
            )
        if account.churned_at is not None:
            raise Conflict(
                f"account {account_id} already churned at {account.churned_at.isoformat()}",
                field="accountId",
            )
        if churned_at < account.customer_since:
            raise InvalidInput(
                "churnedAt is before the account became a customer",
                field="churnedAt",
                suggestion=f"a time after {account.customer_since.isoformat()}",
            )
        account.churned_at = churned_at
        await account.save(update_fields=["churned_at", "updated_at"])
        await DomainEvent.create(
            kind="account_churned",
            subject_id=account.id,
            payload={"churned_at": churned_at.isoformat(), "by": actor},
        )
        last_win = (
            await Deal.filter(account_id=account.id, stage=DealStage.CLOSED_WON)
            .order_by("-closed_at", "-id")
            .first()
        )
        lead = None
        if last_win is not None and last_win.lead_id is not None:  # type: ignore[attr-defined]
            lead = await Lead.get_or_none(id=last_win.lead_id)  # type: ignore[attr-defined]
        await record_feedback(
            engine=engine,
            kind=FeedbackKind.CHURNED,
            reason=None,
            note=note,
            lead=lead,
            deal_id=last_win.id if last_win else None,
            rep_id=last_win.owner_id if last_win else None,  # type: ignore[attr-defined]
            account_id=account.id,
            now=now,
        )
        return account
