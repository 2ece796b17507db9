"""GraphQL over HTTP with wrk (Debian's ``wrk`` package) against one local server process.

Seeds the demo data (``--leads``) into a throw-away database (PostgreSQL when
LEADGATE_TEST_DATABASE_URL is set, else SQLite), starts ``leadgate serve`` on 127.0.0.1 and
runs, interleaved: ``{ __typename }``, the leads list page (50 leads with account, owner and
the latest evaluation's headline) and ``evaluateLead``. Reports requests/s and latency.

    python bench/bench_http.py --smoke          # seconds (skipped when wrk is missing)
    python bench/bench_http.py --seconds 20 --runs 5
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(Path(__file__).parent)]

from bench_bulk import ANCHOR, _database  # noqa: E402
from tortoise import Tortoise  # noqa: E402

from api.auth import create_api_key  # noqa: E402
from api.bulk import all_lead_ids, evaluate_leads  # noqa: E402
from api.db import tortoise_config  # noqa: E402
from api.demo import seed_demo  # noqa: E402
from api.engine import RulesEngine  # noqa: E402
from api.enums import Role  # noqa: E402
from api.migrate import migrate_database  # noqa: E402
from api.models import Lead  # noqa: E402
from api.rulebook_versions import bootstrap  # noqa: E402
from api.settings import DEMO_RULES_DIR  # noqa: E402

TYPENAME = "{ __typename }"
LEADS = (
    "{ leads(first: 50) { edges { node { email stage account { name segment } owner { name } "
    "latestEvaluation { report { headline } } } } } }"
)
EVALUATE = (
    "mutation($id: ID!) { evaluateLead(input: {leadId: $id}) { evaluation { id } "
    "report { headline } userErrors { code } } }"
)
LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %s"
wrk.body = %s
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wrk(
    url: str, token: str, body: str, seconds: float, rate_connections: int, folder: str
) -> dict[str, float]:
    script = Path(folder) / "body.lua"
    script.write_text(LUA % (token, json.dumps(body)), "utf-8")
    done = subprocess.run(
        ["wrk", "-t1", f"-c{rate_connections}", f"-d{max(1, round(seconds))}s", "--latency",
         "-s", str(script), url],
        capture_output=True, text=True, check=False, timeout=seconds + 60,
    )  # fmt: skip
    if done.returncode:
        raise SystemExit(f"wrk failed: {done.stdout}{done.stderr}")
    out = done.stdout
    if "Non-2xx" in out:
        raise SystemExit(f"error responses from the server:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]

    def ms(label: str) -> float:
        found = re.search(rf"{label}%\s+([\d.]+)(us|ms|s)", out)
        if found is None:
            return float("nan")
        value, unit = float(found.group(1)), found.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    return {"rps": rps, "p50": ms("50"), "p99": ms("99")}


async def _prepare(url: str, leads: int) -> tuple[str, str]:
    await migrate_database(url)
    await Tortoise.init(config=tortoise_config(url))
    await seed_demo(leads=leads, anchor=ANCHOR)
    engine = RulesEngine.from_dir(DEMO_RULES_DIR)
    try:
        await bootstrap(rules_dir=Path(engine.rulebook.root))
        await evaluate_leads(engine=engine, lead_ids=await all_lead_ids())
    finally:
        await engine.close()
    lead = await Lead.filter(stage="new").first() or await Lead.first()
    assert lead is not None
    _, token = await create_api_key(name="bench", role=Role.ADMIN)
    await Tortoise.close_connections()
    return base64.b64encode(f"Lead:{lead.id}".encode()).decode(), token


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="seconds-long run for CI")
    parser.add_argument("--leads", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=10.0, help="per measurement")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()
    if args.smoke:
        args.leads, args.seconds, args.runs = 40, 2, 1
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk): skipped")
        return 0
    url, cleanup = asyncio.run(_database())
    folder = tempfile.mkdtemp(prefix="leadgate-http-")
    server = None
    try:
        lead_id, token = asyncio.run(_prepare(url, args.leads))
        port = _free_port()
        env = {**os.environ, "LEADGATE_DATABASE_URL": url, "LEADGATE_LOG_LEVEL": "warning"}
        leadgate = Path(sys.executable).with_name("leadgate")
        server = subprocess.Popen(
            [str(leadgate), "serve", "--host", "127.0.0.1", "--port", str(port)], env=env
        )
        endpoint = f"http://127.0.0.1:{port}/graphql"
        for _ in range(120):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        bodies = {
            "{ __typename }": json.dumps({"query": TYPENAME}),
            "leads(first: 50) list page": json.dumps({"query": LEADS}),
            "evaluateLead": json.dumps({"query": EVALUATE, "variables": {"id": lead_id}}),
        }
        results: dict[str, list[dict[str, float]]] = {name: [] for name in bodies}
        for _ in range(args.runs):  # interleaved
            for name, body in bodies.items():
                measured = _wrk(endpoint, token, body, args.seconds, args.connections, folder)
                results[name].append(measured)
    finally:
        if server is not None:
            server.terminate()
            server.wait(30)
        shutil.rmtree(folder, ignore_errors=True)
        asyncio.run(cleanup())
    db = "PostgreSQL" if url.startswith("postgres") else "SQLite"
    command = "python bench/bench_http.py " + " ".join(sys.argv[1:])
    lines = [
        f"### GraphQL over HTTP on {db}, one server process, wrk on loopback",
        "",
        f"`{command.strip()}` ({args.connections} connections, {args.leads:,} demo leads). "
        "min / median / max over the runs; the last column is each run's ratio to "
        "`{ __typename }` in the same round.",
        "",
        "| operation | req/s | p50 ms (median) | p99 ms (median) | vs `{ __typename }` |",
        "|---|---:|---:|---:|---:|",
    ]
    floor = results["{ __typename }"]
    for name, runs in results.items():
        rps = [r["rps"] for r in runs]
        ratios = [r["rps"] / f["rps"] for r, f in zip(runs, floor, strict=True)]
        lines.append(
            f"| {name} | {min(rps):,.0f} / {statistics.median(rps):,.0f} / {max(rps):,.0f} "
            f"| {statistics.median(r['p50'] for r in runs):,.1f} "
            f"| {statistics.median(r['p99'] for r in runs):,.1f} "
            f"| {statistics.median(ratios):.0%} |"
        )
    print("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
