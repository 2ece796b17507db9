"""Lead intake and reads: validation, normalisation, dedupe by email and external id."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

from email_validator import EmailNotValidError, validate_email
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from api.accounts import company_domain, get_or_create_account, segment_for
from api.errors import Conflict, InvalidInput
from api.locking import for_update
from api.models import Campaign, Lead
from api.privacy import is_tombstoned


@dataclass(frozen=True, slots=True)
class LeadData:
    """What an integration may tell us about a lead; None means "not sent, keep what we have"."""

    external_id: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    title: str | None = None
    seniority: str | None = None
    department: str | None = None
    country: str | None = None
    source: str | None = None
    campaign_key: str | None = None


@dataclass(frozen=True, slots=True)
class CompanyData:
    """Firmographics sent along with a lead; they update the matched account."""

    website: str | None = None
    name: str | None = None
    industry: str | None = None
    employee_count: int | None = None
    annual_revenue: Decimal | None = None
    country: str | None = None


@dataclass(frozen=True, slots=True)
class UpsertResult:
    lead: Lead
    created: bool


def normalize_email(raw: str) -> str:
    """Lower-cased, trimmed and syntactically valid, or InvalidInput naming the field."""
    try:
        checked = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidInput(f"invalid email {raw!r}: {exc}", field="email") from exc
    return checked.normalized.lower()


def _validate(data: LeadData, company: CompanyData) -> None:
    for name, value in (("country", data.country), ("company.country", company.country)):
        if value is not None and (len(value) != 2 or not value.isalpha()):
            raise InvalidInput(
                f"{name} must be an ISO 3166 alpha-2 code, got {value!r}",
                field=name,
                suggestion="use two letters, e.g. US, DE, GB",
            )
    if company.employee_count is not None and company.employee_count < 0:
        raise InvalidInput("employee count cannot be negative", field="company.employeeCount")
    if company.annual_revenue is not None and company.annual_revenue < 0:
        raise InvalidInput("annual revenue cannot be negative", field="company.annualRevenue")


async def upsert_lead(
    *, email: str, data: LeadData | None = None, company: CompanyData | None = None
) -> UpsertResult:
    """Create or update a lead, linking its account by domain, in one transaction.

    A concurrent insert of the same email loses on the unique key and is retried as an update,
    so two simultaneous upserts of one email yield one lead.
    """
    data = data or LeadData()
    company = company or CompanyData()
    email = normalize_email(email)
    _validate(data, company)
    for attempt in range(3):
        try:
            async with in_transaction():
                return await _upsert(email, data, company)
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


async def _upsert(email: str, data: LeadData, company: CompanyData) -> UpsertResult:
    lead = await _find_existing(email, data.external_id)
    fields = {k: v for k, v in asdict(data).items() if v is not None and k != "campaign_key"}
    if data.country:
        fields["country"] = data.country.upper()
    domain = company_domain(email, company.website)
    if domain is not None:
        account = await get_or_create_account(domain=domain, defaults=_account_defaults(company))
        fields["account_id"] = account.id
    if data.campaign_key is not None:
        campaign = await Campaign.get_or_none(key=data.campaign_key)
        if campaign is None:
            raise InvalidInput(
                f"unknown campaign {data.campaign_key!r}",
                field="campaignKey",
                suggestion="create it first: createCampaign, or `leadgate campaigns create`",
            )
        fields["last_campaign_id"] = campaign.id
        if lead is None or lead.first_campaign_id is None:  # type: ignore[attr-defined]
            fields["first_campaign_id"] = campaign.id
    if lead is None:
        if await is_tombstoned(email):
            raise Conflict(
                "this person's data was erased at their request: the lead is not re-created",
                field="email",
                suggestion="if they came back and agreed, an admin can erase with "
                "tombstone: false, or remove the tombstone",
            )
        return UpsertResult(lead=await Lead.create(email=email, **fields), created=True)
    fields["email"] = email
    changed = {k: v for k, v in fields.items() if getattr(lead, k) != v}
    if changed:
        lead.update_from_dict({**changed, "version": lead.version + 1})
        await lead.save(update_fields=[*changed, "version", "updated_at"])
    return UpsertResult(lead=lead, created=False)


async def _find_existing(email: str, external_id: str | None) -> Lead | None:
    """The lead to update, row-locked until the transaction ends: concurrent upserts of one lead
    apply one after the other, so none loses the other's ``version`` increment."""
    by_email = await for_update(Lead.filter(email=email)).first()
    if external_id is None:
        return by_email
    by_external = await for_update(Lead.filter(external_id=external_id)).first()
    if by_external and by_email and by_external.id != by_email.id:
        raise Conflict(
            f"external id {external_id!r} belongs to lead {by_external.id}, "
            f"but {email} is lead {by_email.id}",
            field="externalId",
            suggestion="send the lead's own external id, or merge the two leads first",
        )
    return by_external or by_email


def _account_defaults(company: CompanyData) -> dict[str, Any]:
    return {
        "name": company.name,
        "industry": company.industry,
        "employee_count": company.employee_count,
        "annual_revenue": company.annual_revenue,
        "country": company.country.upper() if company.country else None,
        "segment": segment_for(company.employee_count),
    }
