"""Demo leads prepared for comparing the lean reads with the ORM reads."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from api.demo import seed_demo
from api.models import Account, Campaign, Lead

ANCHOR = datetime(2026, 11, 27, tzinfo=UTC)


async def lead_with_account_and_campaign(leads: int) -> tuple[Lead, Campaign]:
    """Seed ``leads`` demo leads; the first with an account gets an enterprise account with a
    fractional revenue and a first campaign: every column the reads convert is set."""
    await seed_demo(leads=leads, anchor=ANCHOR.date())
    lead = await Lead.filter(account_id__isnull=False).order_by("id").first()
    assert lead is not None
    await Account.filter(id=lead.account_id).update(  # type: ignore[attr-defined]
        annual_revenue=Decimal("1234567.89"), segment="enterprise"
    )
    campaign = await Campaign.all().order_by("id").first()
    assert campaign is not None
    await Lead.filter(id=lead.id).update(first_campaign_id=campaign.id)
    return lead, campaign
