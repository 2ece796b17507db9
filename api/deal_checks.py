"""What a deal's fields may hold: money amounts, ISO currencies, names, existing owners.
Errors name the field and what would be valid, so the GraphQL layer can show them as they are."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from api.currencies import CURRENCIES
from api.errors import InvalidInput, NotFound
from api.models import SalesRep

MAX_AMOUNT = Decimal("99999999999999.99")  # what DecimalField(16, 2) holds


def check_amount(amount: Decimal) -> Decimal:
    """Amounts are non-negative money with at most two decimals."""
    try:
        finite = amount.is_finite()
    except (AttributeError, InvalidOperation):
        finite = False
    if not finite or amount < 0:
        raise InvalidInput(
            f"amount must be a number ≥ 0, got {amount}",
            field="amount",
            suggestion="send the deal value, e.g. 12000.00",
        )
    if amount > MAX_AMOUNT or amount != amount.quantize(Decimal("0.01")):
        raise InvalidInput(
            f"amount {amount} has more than two decimals or is too large",
            field="amount",
            suggestion=f"at most 2 decimals and ≤ {MAX_AMOUNT}",
        )
    return amount


def check_currency(currency: str) -> str:
    code = currency.strip().upper()
    if code not in CURRENCIES:
        raise InvalidInput(
            f"unknown currency {currency!r}",
            field="currency",
            suggestion="an ISO 4217 code such as USD, EUR or GBP",
        )
    return code


def check_name(name: str) -> str:
    clean = name.strip()
    if not clean or len(clean) > 200:
        raise InvalidInput("name must have 1 to 200 characters", field="name")
    return clean


async def check_owner(owner_id: int | None) -> int | None:
    if owner_id is not None and not await SalesRep.exists(id=owner_id):
        raise NotFound(f"no sales rep with id {owner_id}", field="ownerId")
    return owner_id
