"""DataLoaders, one set per request, so a page of N items costs one query per relation."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from strawberry.dataloader import DataLoader
from tortoise.functions import Max
from tortoise.models import Model

from api.models import Account, Evaluation, Lead, SalesRep

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
    latest_evaluation: DataLoader[int, Evaluation | None] = field(
        default_factory=lambda: DataLoader(load_fn=latest_evaluations)
    )
