"""DataLoaders, one set per request, so a page of N items costs one query per relation."""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Generic, TypeVar

from strawberry.dataloader import DataLoader
from tortoise.functions import Count
from tortoise.models import Model

from api.campaigns import first_touch_lead_counts
from api.models import (
    Account,
    Activity,
    Campaign,
    CampaignCost,
    Deal,
    DealStageChange,
    Evaluation,
    Feedback,
    HandoffStep,
    Lead,
    LeadStageChange,
    RepAbsence,
    RulebookActivation,
    SalesRep,
)
from api.reps import open_handoff_counts
from api.rulebook_versions import activations_of
from api.worktime import current_absences

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


async def handoff_step_lists(handoff_ids: Sequence[int]) -> list[list[HandoffStep]]:
    """Every handoff's owner history, in step order, in one query for the whole page."""
    by_handoff: dict[int, list[HandoffStep]] = {h: [] for h in handoff_ids}
    for row in await HandoffStep.filter(handoff_id__in=list(handoff_ids)).order_by("id"):
        by_handoff[row.handoff_id].append(row)  # type: ignore[attr-defined]
    return [by_handoff[h] for h in handoff_ids]


class FirstPages(Generic[M]):
    """The first page of a child list (a lead's evaluations, an account's deals…) for every
    parent of a page at once: one ranked query and one grouped count, whatever the number of
    parents. Keys are (parent id, page size + 1); later pages query one parent directly."""

    def __init__(self, model: type[M], parent: str, *, newest_first: bool = True) -> None:
        self.model = model
        self.parent = parent
        self.order = "DESC" if newest_first else "ASC"
        self.loader: DataLoader[tuple[int, int], tuple[list[M], int]] = DataLoader(
            load_fn=self._load
        )

    async def _load(self, keys: Sequence[tuple[int, int]]) -> list[tuple[list[M], int]]:
        parents = sorted({int(parent) for parent, _ in keys})
        limit = max(int(n) for _, n in keys)
        table, col = self.model._meta.db_table, self.parent
        ranked: list[M] = await self.model.raw(
            f'SELECT * FROM (SELECT t.*, ROW_NUMBER() OVER (PARTITION BY t."{col}" '
            f'ORDER BY t."id" {self.order}) AS page_rank FROM "{table}" t '
            f'WHERE t."{col}" IN ({", ".join(map(str, parents))})) ranked '
            f"WHERE page_rank <= {limit} ORDER BY page_rank"
        )
        by_parent: dict[int, list[M]] = defaultdict(list)
        for row in ranked:
            by_parent[getattr(row, col)].append(row)
        counts = dict(
            await self.model.filter(**{f"{col}__in": parents})
            .annotate(n=Count("id"))
            .group_by(col)
            .values_list(col, "n")
        )
        return [(by_parent[parent][:n], int(counts.get(parent, 0))) for parent, n in keys]


async def _absences_now(rep_ids: Sequence[int]) -> list[list[RepAbsence]]:
    return await current_absences(rep_ids, datetime.now(UTC))


class Loaders:
    """This request's loaders, each made on first use: most requests use none or one, and
    making all of them cost a fifth of a millisecond per request."""

    @functools.cached_property
    def account(self) -> DataLoader[int, Account | None]:
        return DataLoader(load_fn=by_id(Account))

    @functools.cached_property
    def lead(self) -> DataLoader[int, Lead | None]:
        return DataLoader(load_fn=by_id(Lead))

    @functools.cached_property
    def rep(self) -> DataLoader[int, SalesRep | None]:
        return DataLoader(load_fn=by_id(SalesRep))

    @functools.cached_property
    def campaign(self) -> DataLoader[int, Campaign | None]:
        return DataLoader(load_fn=by_id(Campaign))

    @functools.cached_property
    def open_handoffs(self) -> DataLoader[int, int]:
        return DataLoader(load_fn=open_handoff_counts)

    @functools.cached_property
    def rep_absences(self) -> DataLoader[int, list[RepAbsence]]:
        return DataLoader(load_fn=_absences_now)

    @functools.cached_property
    def campaign_leads(self) -> DataLoader[int, int]:
        return DataLoader(load_fn=first_touch_lead_counts)

    @functools.cached_property
    def deal_history(self) -> DataLoader[int, list[DealStageChange]]:
        return DataLoader(load_fn=deal_histories)

    @functools.cached_property
    def handoff_steps(self) -> DataLoader[int, list[HandoffStep]]:
        return DataLoader(load_fn=handoff_step_lists)

    @functools.cached_property
    def lead_evaluations(self) -> FirstPages[Evaluation]:
        return FirstPages(Evaluation, "lead_id")

    @functools.cached_property
    def lead_stage_changes(self) -> FirstPages[LeadStageChange]:
        return FirstPages(LeadStageChange, "lead_id", newest_first=False)

    @functools.cached_property
    def lead_activities(self) -> FirstPages[Activity]:
        return FirstPages(Activity, "lead_id")

    @functools.cached_property
    def lead_feedback(self) -> FirstPages[Feedback]:
        return FirstPages(Feedback, "lead_id")

    @functools.cached_property
    def account_leads(self) -> FirstPages[Lead]:
        return FirstPages(Lead, "account_id")

    @functools.cached_property
    def account_deals(self) -> FirstPages[Deal]:
        return FirstPages(Deal, "account_id")

    @functools.cached_property
    def campaign_costs(self) -> FirstPages[CampaignCost]:
        return FirstPages(CampaignCost, "campaign_id")

    @functools.cached_property
    def rulebook_activations(self) -> DataLoader[str, list[RulebookActivation]]:
        return DataLoader(load_fn=activations_of)

    @functools.cached_property
    def latest_evaluation(self) -> DataLoader[int, Evaluation | None]:
        return DataLoader(load_fn=latest_evaluations)

    @functools.cached_property
    def evaluation(self) -> DataLoader[int, Evaluation | None]:
        return DataLoader(load_fn=by_id(Evaluation))
