"""Bulk re-evaluation end to end: leads/s through ``leadgate evaluate``'s code path, CPU time
per component, RSS over the run, bytes per evaluation row, database size.

Seeds the demo data set (up to ``--base`` leads), copies its leads and their activities in the
database until there are ``--leads`` (``INSERT … SELECT`` over ``generate_series`` on
PostgreSQL, a recursive CTE on SQLite: a million leads in minutes), then times
``api.bulk.evaluate_leads`` over every lead: "recording" runs (each lead's decision forgotten
first, so every lead appends a row) and "unchanged" runs (the decisions are in force: no rows,
scores and times in place). SQLite by default; PostgreSQL when LEADGATE_TEST_DATABASE_URL is
set (a throw-away database is created and dropped). The seeded leads are settled (evaluated
until nothing moves) before they are copied, and the copies carry their stage, owner, scores
and decision, so a million leads need no settling pass of their own.

CPU seconds are read from /proc for this process (the parent: reads, planning, writes, JSON),
the engine workers, and the PostgreSQL backends of the run's database, so the report says
where the time goes even on a shared machine.

    python bench/bench_bulk.py --smoke                             # seconds; what CI runs
    python bench/bench_bulk.py --leads 5000 --runs 5               # prints a markdown report
    python bench/bench_bulk.py --leads 1000000 --runs 1 --only unchanged   # by hand
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

import asyncpg  # noqa: E402
from tortoise import Tortoise  # noqa: E402

from api.bulk import BATCH, all_lead_ids, evaluate_leads  # noqa: E402
from api.db import tortoise_config  # noqa: E402
from api.demo import seed_demo  # noqa: E402
from api.engine import RulesEngine, cpu_count  # noqa: E402
from api.migrate import migrate_database  # noqa: E402
from api.models import Activity, Evaluation, Lead  # noqa: E402
from api.rulebook_versions import bootstrap  # noqa: E402
from api.settings import DEMO_RULES_DIR  # noqa: E402
from api.telemetry import BULK_LEADS  # noqa: E402

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


def _cpu_seconds(pid: int) -> float:
    """utime + stime of a process from /proc (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


async def _backend_pids(url: str) -> list[int]:
    if not url.startswith("postgres"):
        return []
    conn = Tortoise.get_connection("default")
    _, rows = await conn.execute_query(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
    )
    return [int(r[0]) for r in rows]


class Meter:
    """CPU seconds of the parent, the engine workers and the database backends over a run,
    and, every half second, the RSS of the parent and workers, the leads done (the bulk
    progress gauge) and the load average."""

    def __init__(self, engine: RulesEngine, backends: list[int]) -> None:
        self.engine = engine
        self.backends = backends
        self.rss: list[tuple[float, float]] = []
        self.done: list[tuple[float, float]] = []  # (seconds since the start, leads done)
        self.load: list[float] = []
        self._task: asyncio.Task[None] | None = None

    def _cpu(self) -> tuple[float, float, float]:
        workers = [p for p in self.engine.pool.worker_pids() if p]
        return (
            _cpu_seconds(os.getpid()),
            sum(_cpu_seconds(p) for p in workers),
            sum(_cpu_seconds(p) for p in self.backends),
        )

    def _take(self) -> None:
        workers = [p for p in self.engine.pool.worker_pids() if p]
        self.rss.append((_rss_mb(os.getpid()), sum(_rss_mb(p) for p in workers)))
        done = BULK_LEADS.labels(trigger="bulk", state="done")._value.get()
        self.done.append((time.perf_counter() - self.started, done))
        self.load.append(os.getloadavg()[0])

    async def _sample(self) -> None:
        while True:
            self._take()
            await asyncio.sleep(0.5)

    def by_tenth(self, total: int) -> tuple[str, str]:
        """RSS of the parent and of the workers when 0, 10, …, 100 % of the leads were done."""
        picked = []
        for tenth in range(11):
            at = next((i for i, (_, n) in enumerate(self.done) if n >= total * tenth / 10), -1)
            picked.append(self.rss[at] if self.rss else (0.0, 0.0))
        parent, workers = (" ".join(f"{r[i]:.0f}" for r in picked) for i in (0, 1))
        return parent, workers

    def _when(self, leads: float) -> float:
        """Seconds into the run when ``leads`` were done (interpolated between samples)."""
        before = (0.0, 0.0)
        for t, n in self.done:
            if n >= leads:
                (t0, n0) = before
                return t0 + (t - t0) * (leads - n0) / max(n - n0, 1e-9)
            before = (t, n)
        return self.seconds

    def rates(self, total: int) -> tuple[float, float]:
        """Leads/s over the first and the last tenth of the leads (from the progress gauge)."""
        first = self._when(total / 10)
        last = self.seconds - self._when(total * 0.9)
        return total / 10 / max(first, 1e-9), total / 10 / max(last, 1e-9)

    async def __aenter__(self) -> Meter:
        BULK_LEADS.labels(trigger="bulk", state="done").set(0)
        self.started = time.perf_counter()
        self.load_before = os.getloadavg()[0]
        self.start = self._cpu()
        self._task = asyncio.ensure_future(self._sample())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        self.cpu = tuple(b - a for a, b in zip(self.start, self._cpu(), strict=True))
        self.seconds = time.perf_counter() - self.started
        self._take()  # the end of the run: every lead done


async def _grow(url: str, target: int) -> None:
    """Copy the seeded leads (and their activities) inside the database until ``target``."""
    conn = Tortoise.get_connection("default")
    _, rows = await conn.execute_query("SELECT COUNT(*) FROM lead")
    base = int(rows[0][0])
    copies = -(-target // base) - 1
    if copies <= 0:
        return
    pg = url.startswith("postgres")
    # The copies carry the settled stage, owner, scores and decision; no evaluation row is
    # theirs yet (the recording run writes one per lead).
    skip = {"id", "email", "external_id", "last_evaluation_id"}
    lead_cols = [c for c in Lead._meta.fields_db_projection.values() if c not in skip]
    act_cols = [c for c in Activity._meta.fields_db_projection.values()
                if c not in {"id", "lead_id", "external_id"}]  # fmt: skip
    series = (
        f"generate_series(1, {copies}) AS g(n)"
        if pg
        else f"(WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < {copies}) "
        "SELECT n FROM s) AS g"
    )
    cat = "'c' || g.n || '.' || l.email"
    lead_list = ", ".join(f'"{c}"' for c in lead_cols)
    await conn.execute_script(
        f"INSERT INTO lead (email, {lead_list}) SELECT {cat}, "
        + ", ".join(f'l."{c}"' for c in lead_cols)
        + f" FROM lead l CROSS JOIN {series} WHERE l.id <= {base} ORDER BY g.n, l.id"
    )
    act_list = ", ".join(f'"{c}"' for c in act_cols)
    await conn.execute_script(
        f"INSERT INTO activity (lead_id, {act_list}) SELECT c.id, "
        + ", ".join(f'a."{c}"' for c in act_cols)
        + f" FROM activity a JOIN lead l ON l.id = a.lead_id CROSS JOIN {series} "
        f"JOIN lead c ON c.email = {cat} WHERE l.id <= {base}"
    )
    if pg:
        for table in ("lead", "activity"):  # one statement each: VACUUM refuses a script
            await conn.execute_script(f"VACUUM ANALYZE {table}")
    else:
        await conn.execute_script("ANALYZE")


async def _lead_ids(limit: int) -> Sequence[int]:
    """Every lead id, up to ``limit``: a ``range`` when the ids are contiguous (the copies
    are), so the bench holds no list of a million ids of its own."""
    conn = Tortoise.get_connection("default")
    _, rows = await conn.execute_query("SELECT MIN(id), MAX(id), COUNT(*) FROM lead")
    low, high, count = (int(v or 0) for v in rows[0])
    if count and high - low + 1 == count:
        return range(low, min(high, low + limit - 1) + 1)
    return (await all_lead_ids())[:limit]


async def _settle(engine: RulesEngine, ids: Sequence[int], now: datetime, args: Any) -> None:
    """The seed's leads move and hand off: evaluate until nothing is recorded."""
    for _ in range(args.settle):
        summary = await evaluate_leads(engine=engine, lead_ids=ids, now=now, batch_size=args.batch)
        if not summary.recorded:
            break


_VOLATILE = {
    "evaluation": {"created_at", "duration_ms"},
    "lead": {"updated_at"},
    "domain_event": {"created_at"},
}
"""Columns that take the wall clock (or a timing) of the run, left out of ``--dump``."""


async def _dump(path: Path) -> None:
    """Every row an evaluation writes (evaluations, leads, stage changes, handoffs and their
    steps, routing ledger, outbox), as one JSON line per row, ordered by id, without the
    wall-clock columns: two runs on the same seeded data diff byte for byte."""
    conn = Tortoise.get_connection("default")
    tables = ("evaluation", "lead", "lead_stage_change", "handoff", "handoff_step",
              "routing_share", "sales_rep", "domain_event")  # fmt: skip
    with path.open("w") as out:
        for table in tables:
            _, rows = await conn.execute_query(f'SELECT * FROM "{table}" ORDER BY 1')
            skip = _VOLATILE.get(table, set())
            for row in rows:
                values = {k: str(v) for k, v in dict(row).items() if k not in skip}
                out.write(f"{table} {json.dumps(values, sort_keys=True)}\n")


async def run(args: argparse.Namespace) -> str:
    url, cleanup = await _database()
    try:
        await migrate_database(url)
        await Tortoise.init(config=tortoise_config(url))
        started = time.perf_counter()
        await seed_demo(leads=min(args.leads, args.base), anchor=ANCHOR)
        engine = RulesEngine.from_dir(DEMO_RULES_DIR, workers=args.workers)
        try:
            await bootstrap(rules_dir=Path(engine.rulebook.root))
            now = datetime.combine(ANCHOR, datetime.min.time(), tzinfo=UTC)
            await _settle(engine, await _lead_ids(args.leads), now, args)
            seeded = time.perf_counter() - started
            started = time.perf_counter()
            await _grow(url, args.leads)
            grown = time.perf_counter() - started
            ids = await _lead_ids(args.leads)
            activities = await Activity.all().count()
            backends = await _backend_pids(url)
            runs: dict[str, list[float]] = {"recording": [], "unchanged": []}
            meters: dict[str, list[Meter]] = {"recording": [], "unchanged": []}
            for _ in range(args.runs):  # interleaved: recording, then unchanged
                for mode in ("recording", "unchanged"):
                    if args.only and mode != args.only:
                        continue
                    if mode == "recording":
                        await Lead.all().update(decision=None)
                    async with Meter(engine, backends) as meter:
                        started = time.perf_counter()
                        summary = await evaluate_leads(
                            engine=engine, lead_ids=ids, now=now, batch_size=args.batch
                        )
                        runs[mode].append(len(ids) / (time.perf_counter() - started))
                    meters[mode].append(meter)
                    if mode == "recording":
                        assert summary.recorded == len(ids) - summary.failed, summary
                    else:
                        assert summary.recorded == 0, summary  # the same decisions again
            if args.dump:
                await _dump(Path(args.dump))
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

    lines = [
        f"#### Bulk re-evaluation on {db}, {len(ids):,} leads, {workers} engine workers",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d} with `{command.strip()}` "
        f"(batches of {args.batch}; data: {len(ids):,} leads, {activities:,} activities, "
        f"{min(args.leads, args.base):,} seeded and settled in {seeded:,.0f} s, copied in "
        f"{grown:,.0f} s).",
        "",
        "| run | leads/s min / median / max | CPU s per 1,000 leads: parent / engine workers / "
        "database | RSS MB parent, workers: first / at 10 % / last / peak |",
        "|---|---:|---:|---:|",
    ]
    labels = {
        "recording": "every lead records a new decision",
        "unchanged": "nothing changed: no rows, lead updated in place",
    }
    for mode, rates in runs.items():
        if not rates:
            continue
        per = [[c * 1000 / len(ids) for c in m.cpu] for m in meters[mode]]
        cpu = " / ".join(f"{statistics.median(p[i] for p in per):.2f}" for i in range(3))
        rss = [r for m in meters[mode] for r in m.rss] or [(0.0, 0.0)]
        warm = rss[len(rss) // 10]  # after a tenth of the run: caches and pools are warm
        memory = ", ".join(
            f"{rss[0][i]:.0f} / {warm[i]:.0f} / {rss[-1][i]:.0f} / {max(r[i] for r in rss):.0f}"
            for i in (0, 1)
        )
        lines.append(f"| {labels[mode]} ({len(rates)} runs) | {stats(rates)} | {cpu} | {memory} |")
        print(mode, "leads/s per run:", ", ".join(f"{r:,.0f}" for r in rates), file=sys.stderr)
    lines += [
        "",
        "Each run over time (leads/s over the first and the last tenth of the leads; load "
        "average, 1 min, at the start / highest / at the end; RSS by tenth of the leads done):",
        "",
        "| run | seconds | leads/s all / first 10 % / last 10 % | load | "
        "RSS MB parent at 0, 10, …, 100 % of the leads | workers (sum) |",
        "|---|---:|---:|---:|---|---|",
    ]
    for mode in runs:
        for n, m in enumerate(meters[mode], 1):
            first, last = m.rates(len(ids))
            load = f"{m.load_before:.1f} / {max(m.load, default=0):.1f} / {os.getloadavg()[0]:.1f}"
            parent, workers_rss = m.by_tenth(len(ids))
            lines.append(
                f"| {mode} {n} | {m.seconds:,.0f} | {len(ids) / m.seconds:,.0f} / {first:,.0f} / "
                f"{last:,.0f} | {load} | {parent} | {workers_rss} |"
            )
    lines += [
        "",
        f"Evaluation rows: {rows:,}, {row_bytes:,.0f} bytes each on average; database size "
        f"after the runs {db_bytes / 1e6:,.1f} MB.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="seconds-long run for CI")
    parser.add_argument("--leads", type=int, default=5000)
    parser.add_argument("--base", type=int, default=5000, help="demo leads seeded, then copied")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--batch", type=int, default=BATCH, help="leads per batch")
    parser.add_argument("--only", choices=("recording", "unchanged"), default=None)
    parser.add_argument(
        "--settle",
        type=int,
        default=3,
        help="passes before measuring",
    )
    parser.add_argument("--workers", type=int, default=None, help="default: one per core")
    parser.add_argument(
        "--dump", default=None, help="write every stored row (no wall-clock columns) to this file"
    )
    args = parser.parse_args()
    if args.smoke:
        args.leads, args.base, args.runs = 120, 60, 1
    print(asyncio.run(run(args)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
