"""Bulk re-evaluation end to end: leads/s through ``leadgate evaluate``'s code path, bytes per
evaluation row, database size.

Seeds the demo data set (``--leads``), then times ``api.bulk.evaluate_leads`` over every lead:
"recording" runs (each lead's decision forgotten first, so every lead appends a row) and
"unchanged" runs (the decisions are in force: no rows, scores and times in place). SQLite by
default; PostgreSQL when LEADGATE_TEST_DATABASE_URL is set (a throw-away database is created).

    python bench/bench_bulk.py --smoke                  # seconds; what CI runs
    python bench/bench_bulk.py --leads 5000 --runs 5    # prints a markdown report
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

import asyncpg  # noqa: E402
from tortoise import Tortoise  # noqa: E402

from api.bulk import all_lead_ids, evaluate_leads  # noqa: E402
from api.db import tortoise_config  # noqa: E402
from api.demo import seed_demo  # noqa: E402
from api.engine import RulesEngine, cpu_count  # noqa: E402
from api.migrate import migrate_database  # noqa: E402
from api.models import Evaluation, Lead  # noqa: E402
from api.rulebook_versions import bootstrap  # noqa: E402
from api.settings import DEMO_RULES_DIR  # noqa: E402

ANCHOR = date(2026, 11, 27)


async def _database() -> tuple[str, Any]:
    admin_url = os.environ.get("LEADGATE_TEST_DATABASE_URL", "")
    if admin_url.startswith(("postgres://", "postgresql://")):
        name = f"leadgate_bench_{uuid.uuid4().hex[:10]}"
        dsn = admin_url.replace("postgres://", "postgresql://", 1)
        admin = await asyncpg.connect(dsn)
        await admin.execute(f'CREATE DATABASE "{name}"')
        await admin.close()

        async def drop() -> None:  # may run on another event loop (bench_http)
            await Tortoise.close_connections()
            admin = await asyncpg.connect(dsn)
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()

        return f"{admin_url.rpartition('/')[0]}/{name}", drop
    folder = tempfile.mkdtemp(prefix="leadgate-bench-")
    path = Path(folder) / "bench.sqlite3"

    async def remove() -> None:
        await Tortoise.close_connections()
        shutil.rmtree(folder, ignore_errors=True)

    return f"sqlite://{path}", remove


async def _row_bytes(url: str) -> tuple[float, int]:
    """Average bytes of an evaluation row, and the database size in bytes."""
    conn = Tortoise.get_connection("default")
    if url.startswith("sqlite"):
        columns = "input, fired, contributions, scores, outcome, rulebook_version, trigger"
        _, rows = await conn.execute_query(
            "SELECT AVG(" + " + ".join(f"LENGTH(CAST({c} AS BLOB))" for c in columns.split(", "))
            + ") + 8 * 6 FROM evaluation"  # ints, floats and datetimes: 8 bytes each
        )  # fmt: skip
        _, pages = await conn.execute_query("PRAGMA page_count")
        _, page_size = await conn.execute_query("PRAGMA page_size")
        return float(rows[0][0] or 0), int(pages[0][0]) * int(page_size[0][0])
    _, rows = await conn.execute_query("SELECT AVG(pg_column_size(e.*)) FROM evaluation e")
    _, size = await conn.execute_query("SELECT pg_database_size(current_database())")
    return float(rows[0][0] or 0), int(size[0][0])


async def run(args: argparse.Namespace) -> str:
    url, cleanup = await _database()
    try:
        await migrate_database(url)
        await Tortoise.init(config=tortoise_config(url))
        await seed_demo(leads=args.leads, anchor=ANCHOR)
        engine = RulesEngine.from_dir(DEMO_RULES_DIR, workers=args.workers)
        try:
            await bootstrap(rules_dir=Path(engine.rulebook.root))
            ids = await all_lead_ids()
            now = datetime.combine(ANCHOR, datetime.min.time(), tzinfo=UTC)
            for _ in range(3):  # the seed's leads move, hand off: settle before measuring
                if not (await evaluate_leads(engine=engine, lead_ids=ids, now=now)).recorded:
                    break
            recording, unchanged = [], []
            for _ in range(args.runs):  # interleaved: recording, then unchanged
                await Lead.all().update(decision=None)
                started = time.perf_counter()
                summary = await evaluate_leads(engine=engine, lead_ids=ids, now=now)
                recording.append(len(ids) / (time.perf_counter() - started))
                assert summary.recorded == len(ids) - summary.failed, summary
                started = time.perf_counter()
                summary = await evaluate_leads(engine=engine, lead_ids=ids, now=now)
                unchanged.append(len(ids) / (time.perf_counter() - started))
                assert summary.recorded == 0, summary  # settled: the same decisions again
            row_bytes, db_bytes = await _row_bytes(url)
            rows = await Evaluation.all().count()
        finally:
            await engine.close()
    finally:
        await cleanup()
    db = "PostgreSQL" if url.startswith("postgres") else "SQLite"
    command = "python bench/bench_bulk.py " + " ".join(sys.argv[1:])
    workers = args.workers or cpu_count()

    def stats(xs: list[float]) -> str:
        return f"{min(xs):,.0f} / {statistics.median(xs):,.0f} / {max(xs):,.0f}"

    return "\n".join(
        [
            f"### Bulk re-evaluation on {db}, {len(ids):,} demo leads, {workers} engine workers",
            "",
            f"Measured {datetime.now(UTC):%Y-%m-%d} with `{command.strip()}`.",
            "",
            "| run | leads/s min / median / max |",
            "|---|---:|",
            f"| every lead records a new decision ({args.runs} runs) | {stats(recording)} |",
            f"| nothing changed: no rows, lead updated in place ({args.runs} runs) "
            f"| {stats(unchanged)} |",
            "",
            f"Evaluation rows: {rows:,}, {row_bytes:,.0f} bytes each on average; database size "
            f"after the runs {db_bytes / 1e6:,.1f} MB.",
            "",
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="seconds-long run for CI")
    parser.add_argument("--leads", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--workers", type=int, default=None, help="default: one per core")
    args = parser.parse_args()
    if args.smoke:
        args.leads, args.runs = 60, 1
    print(asyncio.run(run(args)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
