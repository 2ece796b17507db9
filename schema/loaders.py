"""DataLoaders, one set per request, so a page of N items costs one query per relation."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from strawberry.dataloader import DataLoader
from tortoise.models import Model

from api.models import Account, DealStageChange, Evaluation, Lead, SalesRep

M = TypeVar("M", bound=Model)


def by_id(model: type[M]) -> Callable[[Sequence[int]], Awaitable[list[M | None]]]:
    async def load(keys: Sequence[int]) -> list[M | None]:
        rows = {row.pk: row for row in await model.filter(pk__in=list(keys))}
        return [rows.get(key) for key in keys]

    return load


async def latest_evaluations(lead_ids: Sequence[int]) -> list[Evaluation | None]:
    """Two indexed look-ups for any number of leads: each lead's pointer to the decision in
    force (``lead.last_evaluation_id``), then those rows; no scan of older evaluations."""
    pointers = await Lead.filter(id__in=list(lead_ids)).values_list("id", "last_evaluation_id")
    newest = {int(lead): int(row) for lead, row in pointers if row is not None}
    rows = {row.id: row for row in await Evaluation.filter(id__in=list(newest.values()))}
    return [rows.get(newest.get(lead_id, 0)) for lead_id in lead_ids]


async def deal_histories(deal_ids: Sequence[int]) -> list[list[DealStageChange]]:
    """Every deal's stage moves, oldest first, in one query for the whole page."""
    by_deal: dict[int, list[DealStageChange]] = {deal_id: [] for deal_id in deal_ids}
    rows = DealStageChange.filter(deal_id__in=list(deal_ids)).order_by("changed_at", "id")
    for row in await rows:
        by_deal[row.deal_id].append(row)  # type: ignore[attr-defined]
    return [by_deal[deal_id] for deal_id in deal_ids]


@dataclass
class Loaders:
    account: DataLoader[int, Account | None] = field(
        default_factory=lambda: DataLoader(load_fn=by_id(Account))
    )
    lead: DataLoader[int, Lead | None] = field(
        default_factory=lambda: DataLoader(load_fn=by_id(Lead))
    )
    rep: DataLoader[int, SalesRep | None] = field(
        default_factory=lambda: DataLoader(load_fn=by_id(SalesRep))
    )
    deal_history: DataLoader[int, list[DealStageChange]] = field(
        default_factory=lambda: DataLoader(load_fn=deal_histories)
    )
    latest_evaluation: DataLoader[int, Evaluation | None] = field(
        default_factory=lambda: DataLoader(load_fn=latest_evaluations)
    )
