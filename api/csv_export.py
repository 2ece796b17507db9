"""Exporting leads and evaluations as CSV, streamed: memory stays flat whatever the size.

Rows are read in keyset pages (``id > last``, a fixed page size) as plain values, written, and
dropped, so a million leads cost the same memory as a thousand.
"""

from __future__ import annotations

import csv
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO

from tortoise.queryset import QuerySet

from api.models import Evaluation, Lead

PAGE = 1000

LEAD_COLUMNS = (
    ("id", "id"), ("email", "email"), ("external_id", "external_id"),
    ("first_name", "first_name"), ("last_name", "last_name"), ("title", "title"),
    ("seniority", "seniority"), ("department", "department"), ("country", "country"),
    ("source", "source"), ("stage", "stage"), ("fit_score", "fit_score"),
    ("engagement_score", "engagement_score"), ("owner_email", "owner__email"),
    ("company_name", "account__name"), ("company_website", "account__domain"),
    ("company_industry", "account__industry"),
    ("company_employee_count", "account__employee_count"),
    ("segment", "account__segment"), ("mql_at", "mql_at"), ("created_at", "created_at"),
    ("updated_at", "updated_at"),
)  # fmt: skip
EVALUATION_COLUMNS = (
    ("id", "id"), ("lead_id", "lead_id"), ("lead_email", "lead__email"),
    ("created_at", "created_at"), ("trigger", "trigger"), ("rulebook_version", "rulebook_version"),
    ("stage_before", "stage_before"), ("stage_after", "stage_after"),
    ("owner_email", "owner__email"), ("duration_ms", "duration_ms"), ("scores", "scores"),
    ("fired", "fired"),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class LeadFilter:
    stage: str | None = None
    source: str | None = None
    segment: str | None = None
    owner_email: str | None = None
    created_since: datetime | None = None
    created_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class EvaluationFilter:
    since: datetime | None = None
    until: datetime | None = None
    trigger: str | None = None
    rulebook_version: str | None = None
    lead_stage_after: str | None = None


def lead_query(f: LeadFilter) -> QuerySet[Lead]:
    query = Lead.all()
    if f.stage:
        query = query.filter(stage=f.stage)
    if f.source:
        query = query.filter(source=f.source)
    if f.segment:
        query = query.filter(account__segment=f.segment)
    if f.owner_email:
        query = query.filter(owner__email=f.owner_email.lower())
    if f.created_since:
        query = query.filter(created_at__gte=f.created_since)
    if f.created_until:
        query = query.filter(created_at__lt=f.created_until)
    return query


def evaluation_query(f: EvaluationFilter) -> QuerySet[Evaluation]:
    query = Evaluation.all()
    if f.since:
        query = query.filter(created_at__gte=f.since)
    if f.until:
        query = query.filter(created_at__lt=f.until)
    if f.trigger:
        query = query.filter(trigger=f.trigger)
    if f.rulebook_version:
        query = query.filter(rulebook_version__startswith=f.rulebook_version)
    if f.lead_stage_after:
        query = query.filter(stage_after=f.lead_stage_after)
    return query


async def _pages(
    query: QuerySet[Any], columns: Sequence[tuple[str, str]], page: int
) -> AsyncIterator[list[dict[str, Any]]]:
    last = 0
    sources = [source for _, source in columns]
    while True:
        rows = await query.filter(id__gt=last).order_by("id").limit(page).values(*sources)
        if not rows:
            return
        yield rows
        last = rows[-1]["id"]


def _cell(column: str, value: Any) -> Any:
    if value is None:
        return ""
    if column == "fired":
        return ";".join(str(f.get("name", "")) for f in value if isinstance(f, dict))
    if column == "scores":
        return ";".join(
            f"{name}={s.get('value')}" for name, s in value.items() if isinstance(s, dict)
        )
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


async def write_csv(
    out: TextIO, query: QuerySet[Any], columns: Sequence[tuple[str, str]], page: int = PAGE
) -> int:
    """Stream ``query`` to ``out`` in id order; returns the number of rows written."""
    writer = csv.writer(out)
    writer.writerow([name for name, _ in columns])
    written = 0
    async for rows in _pages(query, columns, page):
        for row in rows:
            writer.writerow([_cell(name, row[source]) for name, source in columns])
        written += len(rows)
    return written


async def export_leads(out: TextIO, f: LeadFilter, page: int = PAGE) -> int:
    return await write_csv(out, lead_query(f), LEAD_COLUMNS, page)


async def export_evaluations(out: TextIO, f: EvaluationFilter, page: int = PAGE) -> int:
    return await write_csv(out, evaluation_query(f), EVALUATION_COLUMNS, page)
