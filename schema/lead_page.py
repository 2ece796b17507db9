"""A page of leads with what the page asks for about each lead, read up front in a few queries.

The leads list is the busiest page: 50 leads with their account, owner and latest evaluation's
headline. Resolved field by field, every lead cost a DataLoader future and an asyncio task per
relation (graphql-core gathers awaitable fields one task each), the latest evaluation took
two queries and a full record parse, and each headline replayed "why not" on the stored input.
Here the root resolver looks at the selection once, reads each relation for the whole page in
one query, and hands the leads over with plain values, so the rest of the page resolves
without a single task. Leads reached in other ways (one lead, a handoff's lead) still load
through the DataLoaders.

Headlines are derived data of immutable records: one per (rulebook version of the engine,
evaluation, whether the lead was erased since), kept in a bounded in-process cache, so a page
seen before reads only the lean columns of its records. Erasure rewrites a lead's stored
inputs, so an erased lead's headline is computed again.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Final, cast

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    SelectionNode,
)
from strawberry.utils.str_converters import to_camel_case
from tortoise.queryset import QuerySet

from api.models import Evaluation as EvaluationRow
from api.models import Lead as LeadRow
from schema.accounts import Account
from schema.context import Info
from schema.evaluations import Evaluation, record_source
from schema.headlines import HEADLINES, headline_key
from schema.lead_type import Lead
from schema.reps import SalesRep

LIST_COLUMNS: Final = (
    *("id", "fit_score", "engagement_score", "erased_at", "account_id", "owner_id"),
    "last_evaluation_id",
)
"""What a list page reads of a lead besides the columns of the fields it shows: the id, the
cursors' scores, the relations' keys, and what the headline cache keys on (the JSON columns
and the timestamps the page does not show are not read)."""


def requested(info: Info, *path: str) -> set[str]:
    """Names of the fields selected at ``path`` below the current field (through fragments;
    read from the document, cheaper than strawberry's ``selected_fields``)."""
    raw = info._raw_info
    nodes: list[FieldNode] = list(raw.field_nodes)
    for name in path:
        nodes = [node for node in _children(nodes, raw.fragments) if node.name.value == name]
    return {node.name.value for node in _children(nodes, raw.fragments)}


def _children(
    nodes: Iterable[FieldNode], fragments: dict[str, FragmentDefinitionNode]
) -> Iterator[FieldNode]:
    for node in nodes:
        if node.selection_set is not None:
            yield from _flatten(node.selection_set.selections, fragments)


def _flatten(
    selections: Iterable[SelectionNode], fragments: dict[str, FragmentDefinitionNode]
) -> Iterator[FieldNode]:
    for selection in selections:
        if isinstance(selection, FieldNode):
            yield selection
        elif isinstance(selection, InlineFragmentNode):
            yield from _flatten(selection.selection_set.selections, fragments)
        elif isinstance(selection, FragmentSpreadNode) and (
            fragment := fragments.get(selection.name.value)
        ):
            yield from _flatten(fragment.selection_set.selections, fragments)


async def read_page(info: Info, query: QuerySet[LeadRow], limit: int) -> list[Lead]:
    """The leads of ``query`` (ordered, filtered) with the relations the page selects under
    ``edges.node``: account and owner joined in the same statement, the latest evaluation
    (with its report's headline) in one more."""
    wanted = requested(info, "edges", "node")
    columns = {name: name for name in _selected(Lead, wanted, LIST_COLUMNS)}
    joined = [
        (rel, kind, _selected(kind, requested(info, "edges", "node", rel), ("id",)))
        for rel, kind in _JOINS
        if rel in wanted
    ]
    for rel, _, names in joined:
        columns |= {f"x_{rel}_{name}": f"{rel}__{name}" for name in names}
    rows = await query.limit(limit).values(**columns)
    page = []
    for values in rows:
        lead = Lead.from_values(values)
        for rel, kind, names in joined:
            if values[f"x_{rel}_id"] is None:
                lead.prefetched[rel] = None
            else:
                read = {n: values[f"x_{rel}_{n}"] for n in names}
                lead.prefetched[rel] = kind(**(_unread(kind) | read))
        page.append(lead)
    if "latestEvaluation" in wanted:
        await _latest_evaluations(info, page)
    return page


_JOINS: Final[tuple[tuple[str, Any], ...]] = (("account", Account), ("owner", SalesRep))


def _selected(kind: Any, wanted: set[str], always: Iterable[str]) -> list[str]:
    """The columns behind the selected fields of a type built from one row (its constructor
    fields are its columns), and those its resolvers or the page's cursors need."""
    names = _init_fields(kind)
    chosen = {name for name in names if to_camel_case(name) in wanted} | set(always)
    return [name for name in (*names, *always) if name in chosen]


@functools.cache
def _init_fields(kind: Any) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(kind) if f.init)


def _unread(kind: Any) -> dict[str, None]:
    """Fields the page does not select are not read: None, never resolved."""
    return dict.fromkeys(_init_fields(kind))


LEAN_EVALUATION: Final = frozenset(
    {"__typename", "id", "trigger", "stageBefore", "stageAfter", "createdAt"}
    | {"refusedTransition", "report"}
)
"""Fields of an evaluation a page can show from its lean columns (and a known headline)."""
LEAN_COLUMNS: Final = (
    *("id", "lead_id", "trigger", "stage_before", "stage_after", "created_at", "outcome"),
)


class LeanRecord:
    """The lean columns of an evaluation record, for a page that shows only them and known
    headlines (a record whose headline is not known yet is read whole)."""

    __slots__ = LEAN_COLUMNS

    def __init__(self, **values: Any) -> None:
        for name, value in values.items():
            setattr(self, name, value)


async def _latest_evaluations(info: Info, leads: Sequence[Lead]) -> None:
    """The records the leads point at (``lead.last_evaluation_id``): lean columns when the page
    shows nothing else of them, whole rows only for headlines not known yet."""
    engine = info.context.engine
    focus = engine.focus
    shown = requested(info, "edges", "node", "latestEvaluation")
    report = requested(info, "edges", "node", "latestEvaluation", "report")
    erased = {lead.id: lead.erased_at is not None for lead in leads}
    ids = [lead.last_evaluation_id for lead in leads if lead.last_evaluation_id is not None]
    query = EvaluationRow.filter(id__in=ids)
    lean = shown <= LEAN_EVALUATION and report <= {"__typename", "headline"}
    if lean:  # plain values: no model instances (a third of the page's reading, measured)
        values = await query.values(*LEAN_COLUMNS)
        rows = {v["id"]: cast(EvaluationRow, LeanRecord(**v)) for v in values}
    else:
        rows = {row.id: row for row in await query}
    texts: dict[int, str] = {}
    if "headline" in report:
        keys = {
            row.id: headline_key(engine, row, erased=erased[row.lead_id])  # type: ignore[attr-defined]
            for row in rows.values()
        }
        texts = {i: text for i, key in keys.items() if (text := HEADLINES.get(key)) is not None}
        misses = [i for i in rows if i not in texts]
        if misses and lean:
            rows |= {row.id: row for row in await EvaluationRow.filter(id__in=misses)}
        for i in misses:
            texts[i] = await record_source(rows[i], focus).compute_headline(engine)
            HEADLINES.put(keys[i], texts[i])
    for lead in leads:
        row = rows.get(lead.last_evaluation_id or 0)
        lead.prefetched["latestEvaluation"] = (
            Evaluation.from_row(row, focus, headline=texts.get(row.id)) if row else None
        )
