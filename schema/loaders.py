"""DataLoaders, one set per request, so a page of N items costs one query per relation."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from strawberry.dataloader import DataLoader
from tortoise.functions import Max
from tortoise.models import Model

from api.campaigns import first_touch_lead_counts
from api.models import Account, Campaign, DealStageChange, Evaluation, Lead, SalesRep
from api.reps import open_handoff_counts

M = TypeVar("M", bound=Model)


def by_id(model: type[M]) -> Callable[[Sequence[int]], Awaitable[list[M | None]]]:
    async def load(keys: Sequence[int]) -> list[M | None]:
        rows = {row.pk: row for row in await model.filter(pk__in=list(keys))}
        return [rows.get(key) for key in keys]

    return load


async def latest_evaluations(lead_ids: Sequence[int]) -> list[Evaluation | None]:
    """Two queries for any number of leads: the newest id per lead, then those rows."""
    newest = (
        await Evaluation.filter(lead_id__in=list(lead_ids))
        .annotate(last=Max("id"))
        .group_by("lead_id")
        .values_list("last", flat=True)
    )
    rows = {row.lead_id: row for row in await Evaluation.filter(id__in=list(newest))}  # type: ignore[attr-defined]
    return [rows.get(lead_id) for lead_id in lead_ids]


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
    campaign: DataLoader[int, Campaign | None] = field(
        default_factory=lambda: DataLoader(load_fn=by_id(Campaign))
    )
    open_handoffs: DataLoader[int, int] = field(
        default_factory=lambda: DataLoader(load_fn=open_handoff_counts)
    )
    campaign_leads: DataLoader[int, int] = field(
        default_factory=lambda: DataLoader(load_fn=first_touch_lead_counts)
    )
    deal_history: DataLoader[int, list[DealStageChange]] = field(
        default_factory=lambda: DataLoader(load_fn=deal_histories)
    )
    latest_evaluation: DataLoader[int, Evaluation | None] = field(
        default_factory=lambda: DataLoader(load_fn=latest_evaluations)
    )
