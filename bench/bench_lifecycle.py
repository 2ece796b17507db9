"""The rulebook lifecycle as a user runs it: the authoring loop, simulation next to bulk
re-evaluation throughput, and a live swap to a 1,000-rule rulebook under load.

(a) Seeds the demo data set (up to ``--base`` leads, then copied in the database until there are
    ``--leads``, as bench/bench_bulk.py does; not timed) and activates the demo rulebook, then per
    run edits the engagement gate and times each command a user types, as a subprocess:
    ``leadgate rules check`` → ``rules test`` → ``rules simulate --json`` → ``rules publish``
    (which returns when its bulk job has re-evaluated every lead).
(b) Simulation and bulk re-evaluation throughput: leads / seconds of those two steps.
(c) Starts ``leadgate serve`` on the same database, keeps ``--clients`` concurrent evaluateLead
    requests (dry runs) going, and publishes a fresh ``--rules``-rule synthetic rulebook per
    run: the time from the activation's commit until ``/readyz`` serves it, and the requests
    that failed meanwhile.

SQLite by default; PostgreSQL when LEADGATE_TEST_DATABASE_URL is set (a throw-away database).

    python bench/bench_lifecycle.py --smoke                   # seconds; what CI runs
    python bench/bench_lifecycle.py --leads 100000 --runs 3 --swaps 7
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

import httpx  # noqa: E402
from tortoise import Tortoise  # noqa: E402

from api.db import tortoise_config  # noqa: E402
from api.demo import seed_demo  # noqa: E402
from api.enums import JobStatus  # noqa: E402
from api.migrate import migrate_database  # noqa: E402
from api.models import BulkJob  # noqa: E402
from api.rulebook_versions import bootstrap, publish_rulebook  # noqa: E402
from api.settings import DEMO_RULES_DIR  # noqa: E402
from bench.bench_bulk import _database, _grow  # noqa: E402
from rules.synthetic import synthetic_rulebook  # noqa: E402

ANCHOR = date(2026, 11, 27)
GATE = "- {field: scores.engagement, gte: 30}"
STEPS = ("check", "test", "simulate", "publish")
EVALUATE = """mutation($id: ID!) { evaluateLead(input: {leadId: $id, dryRun: true}) {
  report { rulebookVersion } userErrors { code } } }"""


async def leadgate(url: str, *args: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "api.cli",
        *args,
        env={**os.environ, "LEADGATE_DATABASE_URL": url},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"leadgate {' '.join(args)}: {err.decode()[-2000:]}")
    return out.decode()


def candidate(folder: Path, engagement: int) -> Path:
    """The demo rulebook with another engagement gate: what a RevOps edit looks like."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in DEMO_RULES_DIR.glob("*.yaml"):
        text = path.read_text("utf-8")
        if path.name == "lifecycle.yaml":
            assert GATE in text
            text = text.replace(GATE, f"- {{field: scores.engagement, gte: {engagement}}}")
        (folder / path.name).write_text(text, "utf-8")
    return folder


async def authoring_loop(url: str, work: Path, runs: int) -> list[dict[str, float]]:
    timings = []
    for run in range(runs):
        folder = candidate(work / f"candidate{run}", 20 + run)
        steps: dict[str, float] = {}
        for step in STEPS:
            args = {
                "check": ["rules", "check", str(folder)],
                "test": ["rules", "test", str(folder)],
                "simulate": ["rules", "simulate", str(folder), "--json"],
                "publish": ["rules", "publish", str(folder), "--note", f"bench {run}"],
            }[step]
            started = time.perf_counter()
            out = await leadgate(url, *args)
            steps[step] = time.perf_counter() - started
            print(f"run {run}: {step} {steps[step]:.2f}s", file=sys.stderr, flush=True)
            if step == "publish":
                assert "done" in out, out  # the job re-evaluated every lead before returning
        timings.append(steps)
    return timings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def _served(http: httpx.AsyncClient, base: str) -> str | None:
    try:
        version: str = (await http.get(f"{base}/readyz")).json()["checks"]["rulebook"]
        return version
    except (httpx.HTTPError, ValueError, KeyError):
        return None


def _is(wanted: str) -> Callable[[str | None], bool]:
    def check(version: str | None) -> bool:
        return version == wanted

    return check


async def _until(
    read: Callable[[], Awaitable[str | None]], ok: Callable[[str | None], bool]
) -> None:
    """Poll every 20 ms (the resolution of the swap times reported), at most ten minutes."""
    for _ in range(30_000):
        if ok(await read()):
            return
        await asyncio.sleep(0.02)
    raise TimeoutError("the server never got there")


async def swaps(url: str, *, runs: int, rules: int, clients: int) -> dict[str, Any]:
    """Swap a running server to fresh ``rules``-rule versions under load."""
    token = (await leadgate(url, "apikey", "create", "bench", "--role", "admin")).strip()
    port = _free_port()
    env = {
        **os.environ,
        "LEADGATE_DATABASE_URL": url,
        "LEADGATE_LOG_LEVEL": "warning",
        "LEADGATE_JOB_RUNNER": "off",  # the swap is the subject, not the re-evaluation
        "LEADGATE_WEBHOOK_DISPATCH": "false",
        "LEADGATE_SLA_CHECK_INTERVAL_S": "3600",
        "LEADGATE_RESCORE_INTERVAL_S": "3600",
    }
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "api.cli", "serve", "--port", str(port), env=env, cwd=ROOT
    )
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {token}"}
    waits: list[float] = []
    failures: list[str] = []
    served = 0
    try:
        async with httpx.AsyncClient(headers=headers, timeout=60) as http:
            await _until(lambda: _served(http, base), lambda v: v not in (None, "not loaded"))
            page = await http.post(
                f"{base}/graphql", json={"query": "{ leads(first: 50) { edges { node { id } } } }"}
            )
            ids = [e["node"]["id"] for e in page.json()["data"]["leads"]["edges"]]
            stop = asyncio.Event()

            async def client(n: int) -> None:
                nonlocal served
                while not stop.is_set():
                    variables = {"id": ids[n % len(ids)]}
                    try:
                        r = await http.post(
                            f"{base}/graphql", json={"query": EVALUATE, "variables": variables}
                        )
                        body = r.json()
                        payload = (body.get("data") or {}).get("evaluateLead") or {}
                        if r.status_code != 200 or body.get("errors") or payload["userErrors"]:
                            failures.append(str(body)[:300])
                        else:
                            served += 1
                    except (httpx.HTTPError, ValueError, KeyError) as exc:
                        failures.append(repr(exc))

            load = [asyncio.create_task(client(n)) for n in range(clients)]
            try:
                await asyncio.sleep(1)
                for run in range(runs):
                    files = synthetic_rulebook(rules)
                    first = sorted(files)[0]
                    files[first] += f"\n# bench swap {run} {time.time()}\n".encode()
                    done = await publish_rulebook(
                        files=files, note=f"swap {run}", published_by="bench"
                    )
                    committed = time.perf_counter()
                    await _until(lambda: _served(http, base), _is(done.row.version))
                    waits.append(time.perf_counter() - committed)
                    print(f"swap {run}: {waits[-1]:.2f}s", file=sys.stderr, flush=True)
                    await BulkJob.filter(status=JobStatus.PENDING).update(
                        status=JobStatus.CANCELLED
                    )
                    await asyncio.sleep(1)  # requests on the new version before the next swap
            finally:
                stop.set()
                await asyncio.gather(*load)
    finally:
        server.terminate()
        await server.wait()
    return {"waits": waits, "failures": failures, "served": served}


def swap_pieces(rules: int, runs: int) -> dict[str, list[float]]:
    """Where a swap's time goes, without a server: validating and parsing the YAML (what a
    swap did, and what publishing does), freezing the parsed form (publishing) and thawing it
    (what a swap does now), compiling it in running workers, and starting new workers (what a
    swap did before it reused them)."""
    from api.rulebook_store import frozen_form, validate_files
    from rules import EnginePool, EvaluationInput, LeadData
    from rules.frozen import thaw

    probe = EvaluationInput(lead=LeadData(email="w@bench.invalid"), now=datetime.now(UTC))
    times: dict[str, list[float]] = {
        "parse": [],
        "freeze": [],
        "thaw": [],
        "compile": [],
        "spawn": [],
    }
    base = validate_files(synthetic_rulebook(10), root="base")
    with EnginePool(base, workers=2) as pool:
        for run in range(runs):
            files = synthetic_rulebook(rules)
            files[sorted(files)[0]] += f"\n# piece {run} {time.time()}\n".encode()
            started = time.perf_counter()
            parsed = validate_files(files, root="bench")
            times["parse"].append(time.perf_counter() - started)
            started = time.perf_counter()
            form = frozen_form(parsed)
            times["freeze"].append(time.perf_counter() - started)
            assert form["parsed"] is not None
            started = time.perf_counter()
            book = thaw(form["parsed"], fingerprint=form["parsed_format"], version=parsed.version)
            times["thaw"].append(time.perf_counter() - started)
            started = time.perf_counter()
            outcomes = pool.evaluate_batch_sync([probe, probe], rulebook=book)
            assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
            times["compile"].append(time.perf_counter() - started)
            started = time.perf_counter()
            EnginePool(book, workers=2).close()
            times["spawn"].append(time.perf_counter() - started)
            print(f"pieces {run}: {[round(v[-1], 2) for v in times.values()]}", file=sys.stderr)
    return times


def _stats(xs: list[float], fmt: str = "{:.2f}") -> str:
    return " / ".join(fmt.format(x) for x in (min(xs), statistics.median(xs), max(xs)))


def _loop_report(
    loop: list[dict[str, float]], totals: list[float], args: argparse.Namespace
) -> list[str]:
    return [
        f"Authoring loop, seconds per step (min / median / max of {args.runs} runs):",
        "",
        "| step | seconds |",
        "|---|---:|",
        *[f"| `rules {step}` | {_stats([t[step] for t in loop])} |" for step in STEPS],
        f"| **total** | **{_stats(totals)}** |",
        "",
        "| throughput (leads/s) | min / median / max |",
        "|---|---:|",
        f"| simulate (nothing written) "
        f"| {_stats([args.leads / t['simulate'] for t in loop], '{:,.0f}')} |",
        f"| publish → every lead re-evaluated (bulk job) "
        f"| {_stats([args.leads / t['publish'] for t in loop], '{:,.0f}')} |",
        "",
    ]


async def run(args: argparse.Namespace) -> str:
    url, cleanup = await _database()
    work = Path(tempfile.mkdtemp(prefix="leadgate-lifecycle-"))
    try:
        await migrate_database(url)
        await Tortoise.init(config=tortoise_config(url))
        started = time.perf_counter()
        await seed_demo(leads=min(args.leads, args.base), anchor=ANCHOR)
        await _grow(url, args.leads)
        await bootstrap(rules_dir=DEMO_RULES_DIR)
        seeded = time.perf_counter() - started
        print(f"seeded {args.leads} leads in {seeded:.0f}s", file=sys.stderr, flush=True)
        loop = await authoring_loop(url, work, args.runs) if args.runs else []
        swapped = await swaps(url, runs=args.swaps, rules=args.rules, clients=args.clients)
    finally:
        await cleanup()
    db = "PostgreSQL" if url.startswith("postgres") else "SQLite"
    command = "python bench/bench_lifecycle.py " + " ".join(sys.argv[1:])
    totals = [sum(t.values()) for t in loop]
    lines = [
        f"### Rulebook lifecycle on {db}, {args.leads:,} demo leads"
        + (f" ({args.base:,} seeded, the rest copies)" if args.leads > args.base else ""),
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d} with `{command.strip()}` "
        f"(seeding {seeded:.0f} s, not counted).",
        "",
    ]
    if loop:
        lines += _loop_report(loop, totals, args)
    if not swapped["waits"]:  # --swaps 0: the authoring loop only
        return "\n".join(lines)
    lines += [
        f"Live swap to a fresh {args.rules:,}-rule rulebook in a running server under "
        f"{args.clients} concurrent evaluateLead clients, activation commit → `/readyz` serves "
        f"it, seconds (min / median / max of {args.swaps} swaps): "
        f"**{_stats(swapped['waits'])}**; {swapped['served']:,} requests served, "
        f"{len(swapped['failures'])} failed.",
        "",
    ]
    if swapped["failures"]:
        lines += ["First failures:", "", *[f"- `{f}`" for f in swapped["failures"][:3]], ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="seconds-long run for CI")
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--base", type=int, default=5000, help="demo leads seeded, then copied")
    parser.add_argument("--runs", type=int, default=3, help="authoring loops (0: swaps only)")
    parser.add_argument("--swaps", type=int, default=7, help="live swaps")
    parser.add_argument("--rules", type=int, default=1000, help="rules of the swapped-in book")
    parser.add_argument("--clients", type=int, default=8, help="concurrent requests in swaps")
    parser.add_argument(
        "--pieces", action="store_true", help="only time a swap's pieces (no database)"
    )
    args = parser.parse_args()
    if args.pieces:
        pieces = swap_pieces(args.rules, args.swaps)
        print(
            f"Swap pieces, {args.rules:,} rules, 2 workers, seconds (min / median / max of "
            f"{args.swaps}): parse {_stats(pieces['parse'])}; freeze (at publish) "
            f"{_stats(pieces['freeze'], '{:.3f}')}; thaw {_stats(pieces['thaw'], '{:.3f}')}; "
            f"compile in running workers {_stats(pieces['compile'])}; "
            f"starting 2 new workers {_stats(pieces['spawn'])}"
        )
        return 0
    if args.smoke:
        args.leads, args.runs, args.swaps, args.rules, args.clients = 200, 1, 1, 100, 2
    print(asyncio.run(run(args)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
