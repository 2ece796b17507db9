"""Lead intake in batches: the rules of ``api.leads.upsert_lead`` for many rows at once.

Segment ``identify``/``group`` calls and CSV imports arrive by the hundred or the hundred
thousand; one transaction per row (and five queries in it) is what made them slow. Here a batch
costs a fixed number of queries: read the leads, accounts and campaigns it names, insert the new
rows in bulk, update the changed ones in bulk. Bad rows get an error each and never stop the
others.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from tortoise.transactions import in_transaction

from api.accounts import company_domain, normalize_domain, segment_for
from api.errors import Conflict, InvalidInput, LeadgateError, NotFound
from api.leads import CompanyData, LeadData, _validate, normalize_email
from api.models import Account, Campaign, Lead

_DATA_FIELDS = tuple(f.name for f in fields(LeadData) if f.name != "campaign_key")


@dataclass(frozen=True, slots=True)
class LeadRow:
    """One lead to create or update. Without an email the lead must exist (by external id)."""

    email: str | None
    data: LeadData = field(default_factory=LeadData)
    company: CompanyData = field(default_factory=CompanyData)
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class RowResult:
    index: int
    lead_id: int | None = None
    created: bool = False
    changed: bool = False
    error: LeadgateError | None = None


@dataclass(slots=True)
class _Planned:
    index: int
    row: LeadRow
    email: str | None
    domain: str | None
    lead: Lead | None = None


async def upsert_leads(*, rows: Sequence[LeadRow], dry_run: bool = False) -> list[RowResult]:
    """Create or update every valid row in one transaction; ``dry_run`` checks without writing."""
    results = [RowResult(index=i) for i in range(len(rows))]
    planned = _check_rows(rows, results)
    async with in_transaction():
        by_email, by_external = await _existing(planned)
        campaigns = await _campaigns(planned)
        plans: list[_Planned] = []
        for plan in planned:
            try:
                plan.lead = _match(plan, by_email, by_external)
                _check_campaign(plan.row, campaigns)
            except LeadgateError as exc:
                results[plan.index].error = exc
                continue
            plans.append(plan)
        if dry_run:
            for plan in plans:
                result = results[plan.index]
                result.created = plan.lead is None
                result.lead_id = plan.lead.id if plan.lead else None
                values = _lead_values(plan, None, campaigns)
                result.changed = plan.lead is None or any(
                    getattr(plan.lead, k) != v for k, v in values.items()
                )
            return results
        accounts = await _accounts(plans)
        await _write(plans, accounts, campaigns, results)
    return results


def _check_rows(rows: Sequence[LeadRow], results: list[RowResult]) -> list[_Planned]:
    planned: list[_Planned] = []
    for index, row in enumerate(rows):
        try:
            email = normalize_email(row.email) if row.email is not None else None
            if email is None and not row.data.external_id:
                raise InvalidInput("a lead needs an email or an external id", field="email")
            _validate(row.data, row.company)
            if email is not None:
                domain = company_domain(email, row.company.website)
            else:
                domain = normalize_domain(row.company.website) if row.company.website else None
        except LeadgateError as exc:
            results[index].error = exc
            continue
        planned.append(_Planned(index=index, row=row, email=email, domain=domain))
    return planned


async def _existing(planned: list[_Planned]) -> tuple[dict[str, Lead], dict[str, Lead]]:
    emails = {p.email for p in planned if p.email}
    externals = {p.row.data.external_id for p in planned if p.row.data.external_id}
    by_email = {lead.email: lead for lead in await Lead.filter(email__in=emails)} if emails else {}
    by_external = (
        {lead.external_id: lead for lead in await Lead.filter(external_id__in=externals)}
        if externals
        else {}
    )
    for lead in by_email.values():  # one object per row, whichever key found it
        if lead.external_id in by_external:
            by_email[lead.email] = by_external[lead.external_id]
    return by_email, {k: v for k, v in by_external.items() if k is not None}


def _match(plan: _Planned, by_email: dict[str, Lead], by_external: dict[str, Lead]) -> Lead | None:
    external_id = plan.row.data.external_id
    email_lead = by_email.get(plan.email) if plan.email else None
    external_lead = by_external.get(external_id) if external_id else None
    if email_lead and external_lead and email_lead.id != external_lead.id:
        raise Conflict(
            f"external id {external_id!r} belongs to lead {external_lead.id}, "
            f"but {plan.email} is lead {email_lead.id}",
            field="externalId",
            suggestion="send the lead's own external id, or merge the two leads first",
        )
    lead = external_lead or email_lead
    if lead is None and plan.email is None:
        raise NotFound(
            f"no lead with external id {external_id!r}",
            field="email",
            suggestion="send an email the first time, so the lead can be created",
        )
    return lead


async def _campaigns(planned: list[_Planned]) -> dict[str, int]:
    keys = {p.row.data.campaign_key for p in planned if p.row.data.campaign_key}
    if not keys:
        return {}
    return dict(await Campaign.filter(key__in=keys).values_list("key", "id"))


def _check_campaign(row: LeadRow, campaigns: dict[str, int]) -> None:
    key = row.data.campaign_key
    if key is not None and key not in campaigns:
        raise InvalidInput(f"unknown campaign {key!r}", field="campaignKey")


def _account_values(company: CompanyData) -> dict[str, Any]:
    return {
        "name": company.name,
        "industry": company.industry,
        "employee_count": company.employee_count,
        "annual_revenue": company.annual_revenue,
        "country": company.country.upper() if company.country else None,
        "segment": segment_for(company.employee_count),
    }


async def _accounts(plans: list[_Planned]) -> dict[str, Account]:
    """Accounts by domain: missing ones inserted in bulk, firmographics updated in bulk."""
    wanted: dict[str, dict[str, Any]] = {}
    for plan in plans:
        if plan.domain is not None:
            values = {k: v for k, v in _account_values(plan.row.company).items() if v is not None}
            wanted[plan.domain] = {**wanted.get(plan.domain, {}), **values}
    if not wanted:
        return {}
    found = {a.domain: a for a in await Account.filter(domain__in=list(wanted))}
    missing = [Account(domain=d, **v) for d, v in wanted.items() if d not in found]
    if missing:
        await Account.bulk_create(missing, ignore_conflicts=True)
        found |= {a.domain: a for a in await Account.filter(domain__in=[a.domain for a in missing])}
    by_fields: dict[tuple[str, ...], list[Account]] = {}
    for domain, values in wanted.items():
        account = found[domain]
        changed = {k: v for k, v in values.items() if getattr(account, k) != v}
        if changed:
            account.update_from_dict(changed)
            by_fields.setdefault(tuple(sorted(changed)), []).append(account)
    for names, rows in by_fields.items():
        await Account.bulk_update(rows, fields=list(names), batch_size=500)
    return found


def _lead_values(
    plan: _Planned, accounts: dict[str, Account] | None, campaigns: dict[str, int]
) -> dict[str, Any]:
    """Column values for the lead; ``accounts`` None (dry runs) leaves the account out."""
    data = plan.row.data
    values = {k: v for k in _DATA_FIELDS if (v := getattr(data, k)) is not None}
    if data.country:
        values["country"] = data.country.upper()
    if plan.email is not None:
        values["email"] = plan.email
    if plan.domain is not None and accounts is not None:
        values["account_id"] = accounts[plan.domain].id
    if data.campaign_key is not None:
        values["last_campaign_id"] = campaigns[data.campaign_key]
        if plan.lead is None or plan.lead.first_campaign_id is None:  # type: ignore[attr-defined]
            values["first_campaign_id"] = campaigns[data.campaign_key]
    if plan.row.properties:
        current = plan.lead.properties if plan.lead is not None else {}
        values["properties"] = {**current, **plan.row.properties}
    return values


async def _write(
    plans: list[_Planned],
    accounts: dict[str, Account],
    campaigns: dict[str, int],
    results: list[RowResult],
) -> None:
    new: dict[str, Lead] = {}
    new_rows: dict[str, list[int]] = {}
    by_fields: dict[tuple[str, ...], dict[int, Lead]] = {}
    for plan in plans:
        values = _lead_values(plan, accounts, campaigns)
        if plan.lead is None:
            assert plan.email is not None  # _match refused email-less rows without a lead
            if plan.email in new:  # the same new lead twice in one batch: later values win
                new[plan.email].update_from_dict(values)
            else:
                new[plan.email] = Lead(**values)
            new_rows.setdefault(plan.email, []).append(plan.index)
            continue
        lead = plan.lead
        changed = {k: v for k, v in values.items() if getattr(lead, k) != v}
        result = results[plan.index]
        result.lead_id = lead.id
        if changed:
            lead.update_from_dict({**changed, "updated_at": datetime.now(UTC)})
            result.changed = True
            by_fields.setdefault(tuple(sorted(changed)), {})[lead.id] = lead
    for names, leads in by_fields.items():
        for lead in leads.values():
            lead.version += 1
        await Lead.bulk_update(
            list(leads.values()), fields=[*names, "version", "updated_at"], batch_size=500
        )
    if new:
        await Lead.bulk_create(list(new.values()), ignore_conflicts=True, batch_size=1000)
        ids = dict(await Lead.filter(email__in=list(new)).values_list("email", "id"))
        for email, indexes in new_rows.items():
            for index in indexes:
                results[index].lead_id = ids[email]
                results[index].created = results[index].changed = True
