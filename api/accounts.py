"""Accounts are matched by the domain of a lead's email (or an explicit website)."""

from __future__ import annotations

from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from api.models import Account

# Mailbox providers: a lead on these domains says nothing about the company.
FREE_MAIL_DOMAINS = frozenset(
    {
        "gmail.com", "googlemail.com", "yahoo.com", "hotmail.com", "outlook.com", "live.com",
        "icloud.com", "me.com", "aol.com", "proton.me", "protonmail.com", "gmx.com", "gmx.de",
        "web.de", "mail.com", "yandex.ru", "qq.com", "163.com",
    }
)  # fmt: skip


def normalize_domain(value: str) -> str:
    """``https://www.Acme.com/about`` → ``acme.com``."""
    domain = value.strip().lower()
    for prefix in ("https://", "http://"):
        domain = domain.removeprefix(prefix)
    domain = domain.split("/", 1)[0].split(":", 1)[0]
    return domain.removeprefix("www.")


def company_domain(email: str, website: str | None = None) -> str | None:
    """The company domain for a lead, or None for free-mail addresses without a website."""
    if website:
        return normalize_domain(website)
    domain = email.rsplit("@", 1)[1]
    return None if domain in FREE_MAIL_DOMAINS else domain


def segment_for(employee_count: int | None) -> str | None:
    """Segments by headcount, the default the demo rulebook routes on."""
    if employee_count is None:
        return None
    if employee_count >= 1000:
        return "enterprise"
    if employee_count >= 200:
        return "mid_market"
    return "smb"


async def get_or_create_account(*, domain: str, defaults: dict[str, Any]) -> Account:
    """Concurrency-safe: a lost race on the unique domain reads the winner's row."""
    account = await Account.get_or_none(domain=domain)
    if account is None:
        try:
            async with in_transaction():  # a savepoint when nested, so a lost race is recoverable
                return await Account.create(domain=domain, **defaults)
        except IntegrityError:
            account = await Account.get(domain=domain)
    changed = {k: v for k, v in defaults.items() if v is not None and getattr(account, k) != v}
    if changed:
        await account.update_from_dict(changed)
        await account.save(update_fields=list(changed))
    return account
