"""Benchmark: ``leadgate leads import`` of generated leads, leads/s on SQLite and PostgreSQL.

Each run imports the same generated CSV (100k rows by default, a fifth on free-mail domains,
the rest over 20k company domains, 1 % bad rows) into a fresh migrated database through
``api.csv_import.import_leads`` — the code path of the command — with the default batch size.
Runs alternate between the databases so machine noise hits both alike.

    .venv/bin/python bench/bench_csv_import.py              # 100k rows, 5 runs per database
    .venv/bin/python bench/bench_csv_import.py --smoke      # 2k rows, one run each, for CI
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import random
import sys
import tempfile
import time
from pathlib import Path

from tortoise import Tortoise

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.csv_import import import_leads
from api.db import tortoise_config
from api.models import Lead
from bench.integration_setup import fresh_database, spread

TITLES = ("VP Marketing", "Head of Growth", "Engineer", "CFO", "Student", "Director of Sales")
INDUSTRIES = ("software", "retail", "finance", "health", "education")


def generate(path: Path, rows: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "external_id", "first_name", "last_name", "title", "country",
                         "company_name", "company_employee_count", "company_industry"])  # fmt: skip
        for i in range(rows):
            free = rng.random() < 0.2
            domain = "gmail.com" if free else f"company{rng.randrange(rows // 5 + 1)}.example"
            email = f"lead{i}@{domain}" if rng.random() > 0.01 else f"broken{i}"
            employees = str(int(rng.lognormvariate(4, 1.5)))
            writer.writerow([email, f"crm-{i}", "Lead", str(i), rng.choice(TITLES),
                             rng.choice(("US", "DE", "GB", "FR")), "" if free else domain,
                             "" if free else employees, rng.choice(INDUSTRIES)])  # fmt: skip


async def one_run(kind: str, path: Path, rows: int) -> float:
    async with fresh_database(kind, "leadgate_bench_csv") as url:
        await Tortoise.init(config=tortoise_config(url))
        try:
            began = time.perf_counter()
            summary = await import_leads(path=path, error_report=path.with_suffix(".err"))
            elapsed = time.perf_counter() - began
            assert summary.created + summary.failed == rows, summary
            assert await Lead.all().count() == summary.created
        finally:
            await Tortoise.close_connections()
    return summary.created / elapsed


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="2k rows, one run each, for CI")
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    rows = args.rows or (2_000 if args.smoke else 100_000)
    runs = 1 if args.smoke else args.runs
    results: dict[str, list[float]] = {"sqlite": [], "postgres": []}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "leads.csv"
        generate(path, rows)
        for _ in range(runs):
            for kind in results:  # interleaved
                rate = await one_run(kind, path, rows)
                results[kind].append(rate)
                print(f"{kind:9} {rate:10,.0f} leads/s", flush=True)
    for kind, rates in results.items():
        print(f"{kind}: {rows:,} rows, leads/s min / median / max: {spread(rates)}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
