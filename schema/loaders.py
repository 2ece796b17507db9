"""DataLoaders, one set per request, so a page of N items costs one query per relation."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from strawberry.dataloader import DataLoader
from tortoise.models import Model

from api.models import Account, SalesRep

M = TypeVar("M", bound=Model)


def by_id(model: type[M]) -> Callable[[Sequence[int]], Awaitable[list[M | None]]]:
    async def load(keys: Sequence[int]) -> list[M | None]:
        rows = {row.pk: row for row in await model.filter(pk__in=list(keys))}
        return [rows.get(key) for key in keys]

    return load


@dataclass
class Loaders:
    account: DataLoader[int, Account | None] = field(
        default_factory=lambda: DataLoader(load_fn=by_id(Account))
    )
    rep: DataLoader[int, SalesRep | None] = field(
        default_factory=lambda: DataLoader(load_fn=by_id(SalesRep))
    )
