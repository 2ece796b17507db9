"""Importing leads from CSV: streamed in batches, idempotent, with a per-row error report.

Rows are read one batch at a time (constant memory), turned into ``LeadRow``s and written with
``api.lead_batch.upsert_leads`` — a fixed number of queries per batch. A row that cannot be
imported is written to the error report with its line number, the field and the reason; the
other rows of its batch are imported. Importing the same file twice changes nothing the second
time (leads are matched by email, then external id).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TextIO

from api.errors import InvalidInput, LeadgateError
from api.lead_batch import LeadRow, upsert_leads
from api.leads import CompanyData, LeadData

BATCH = 1000
LEAD_FIELDS = (
    "email", "external_id", "first_name", "last_name", "title", "seniority", "department",
    "country", "source", "campaign_key",
)  # fmt: skip
COMPANY_FIELDS = (
    "company_name", "company_website", "company_industry", "company_employee_count",
    "company_annual_revenue", "company_country",
)  # fmt: skip
TARGETS = (*LEAD_FIELDS, *COMPANY_FIELDS)
# Header spellings recognised without a mapping (compared lower-cased, spaces as underscores).
ALIASES = {
    "email_address": "email", "e-mail": "email", "externalid": "external_id",
    "firstname": "first_name", "lastname": "last_name",
    "job_title": "title", "company": "company_name", "company_domain": "company_website",
    "website": "company_website", "domain": "company_website", "industry": "company_industry",
    "employees": "company_employee_count", "employee_count": "company_employee_count",
    "annual_revenue": "company_annual_revenue", "revenue": "company_annual_revenue",
    "campaign": "campaign_key",
}  # fmt: skip


@dataclass(slots=True)
class ImportSummary:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    ignored_columns: list[str] = field(default_factory=list)
    error_report: Path | None = None


def column_mapping(header: list[str], overrides: dict[str, str]) -> dict[str, str]:
    """CSV column -> lead field: explicit ``overrides`` first, then known header spellings."""
    if bad := sorted(set(overrides.values()) - set(TARGETS)):
        raise InvalidInput(
            f"unknown lead fields in the mapping: {bad}",
            field="map",
            suggestion=f"map columns to: {', '.join(TARGETS)}",
        )
    if missing := sorted(set(overrides) - set(header)):
        raise InvalidInput(f"the file has no column {missing}", field="map")
    mapping = {c: overrides[c] for c in header if c in overrides}
    keys = {c: c.strip().lower().replace(" ", "_") for c in header if c not in overrides}
    exact = {c: k for c, k in keys.items() if k in TARGETS}
    other = {c: ALIASES[k] for c, k in keys.items() if c not in exact and k in ALIASES}
    for column, target in [*exact.items(), *other.items()]:  # field names win over aliases
        if target not in mapping.values():
            mapping[column] = target
    if "email" not in mapping.values() and "external_id" not in mapping.values():
        raise InvalidInput(
            "no column maps to email or external_id",
            field="map",
            suggestion='name the column "email", or pass --map "Your Column=email"',
        )
    return mapping


def lead_row(values: dict[str, str]) -> LeadRow:
    """One CSV row (already mapped to field names) as a LeadRow; empty cells mean "not sent"."""
    given = {k: v.strip() for k, v in values.items() if v is not None and v.strip()}
    employees = given.get("company_employee_count")
    revenue = given.get("company_annual_revenue")
    return LeadRow(
        email=given.get("email"),
        data=LeadData(**{k: given.get(k) for k in LEAD_FIELDS if k != "email"}),
        company=CompanyData(
            name=given.get("company_name"),
            website=given.get("company_website"),
            industry=given.get("company_industry"),
            employee_count=_int(employees) if employees else None,
            annual_revenue=_decimal(revenue) if revenue else None,
            country=given.get("company_country"),
        ),
    )


def _int(value: str) -> int:
    try:
        return int(value.replace(",", "").replace("_", ""))
    except ValueError as exc:
        raise InvalidInput(
            f"employee count {value!r} is not a whole number", field="company_employee_count"
        ) from exc


def _decimal(value: str) -> Decimal:
    try:
        return Decimal(value.replace(",", "").replace("_", ""))
    except InvalidOperation as exc:
        raise InvalidInput(
            f"annual revenue {value!r} is not a number", field="company_annual_revenue"
        ) from exc


def count_rows(path: Path) -> int:
    """Data rows (quoted newlines included), for the progress bar; reads the file once."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return max(sum(1 for _ in csv.reader(handle)) - 1, 0)


def _batches(reader: csv.DictReader[str], size: int) -> Iterator[list[tuple[int, dict[str, str]]]]:
    batch: list[tuple[int, dict[str, str]]] = []
    for row in reader:
        batch.append((reader.line_num, row))
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


async def import_leads(
    *,
    path: Path,
    overrides: dict[str, str] | None = None,
    dry_run: bool = False,
    error_report: Path | None = None,
    batch_size: int = BATCH,
    progress: Callable[[int], None] | None = None,
    changed_ids: list[int] | None = None,
) -> ImportSummary:
    """Import ``path``; bad rows go to ``error_report`` (default: FILE.errors.csv)."""
    summary = ImportSummary()
    report_path = error_report or path.with_name(path.stem + ".errors.csv")
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        header = list(reader.fieldnames or [])
        mapping = column_mapping(header, overrides or {})
        summary.ignored_columns = [c for c in header if c not in mapping]
        report: TextIO | None = None
        writer: Any = None
        try:
            for batch in _batches(reader, batch_size):
                failures = await _import_batch(batch, mapping, dry_run, summary, changed_ids)
                if failures:
                    if writer is None:
                        report = report_path.open("w", newline="", encoding="utf-8")
                        writer = csv.writer(report)
                        writer.writerow(["line", "field", "error", *header])
                    for line, raw, exc in failures:
                        writer.writerow([line, exc.field or "", exc.message,
                                         *(raw.get(c, "") for c in header)])  # fmt: skip
                if progress is not None:
                    progress(len(batch))
        finally:
            if report is not None:
                report.close()
    summary.error_report = report_path if summary.failed else None
    return summary


async def _import_batch(
    batch: list[tuple[int, dict[str, str]]],
    mapping: dict[str, str],
    dry_run: bool,
    summary: ImportSummary,
    changed_ids: list[int] | None,
) -> list[tuple[int, dict[str, str], LeadgateError]]:
    failures: list[tuple[int, dict[str, str], LeadgateError]] = []
    rows: list[LeadRow] = []
    lines: list[tuple[int, dict[str, str]]] = []
    for line, raw in batch:
        summary.rows += 1
        try:
            if None in raw:  # more cells than the header has columns
                raise InvalidInput("the row has more cells than the header", field="row")
            rows.append(lead_row({target: raw[column] for column, target in mapping.items()}))
            lines.append((line, raw))
        except LeadgateError as exc:
            failures.append((line, raw, exc))
    for (line, raw), result in zip(
        lines, await upsert_leads(rows=rows, dry_run=dry_run), strict=True
    ):
        if result.error is not None:
            failures.append((line, raw, result.error))
        elif result.created:
            summary.created += 1
        elif result.changed:
            summary.updated += 1
        else:
            summary.unchanged += 1
        if changed_ids is not None and result.changed and result.lead_id is not None:
            changed_ids.append(result.lead_id)
    summary.failed += len(failures)
    failures.sort(key=lambda f: f[0])
    return failures
