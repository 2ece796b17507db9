"""GraphQL over HTTP against one local server process, load generators on loopback.

Seeds the demo data (``--leads``) into a throw-away database (PostgreSQL when
LEADGATE_TEST_DATABASE_URL is set, else SQLite), starts ``leadgate serve`` on 127.0.0.1 and
runs, interleaved in each round:

- ``{ __typename }`` and the leads list page (50 leads with account, owner and the latest
  evaluation's headline) at full speed with wrk (Debian's ``wrk``: closed loop,
  ``--connections``), for the page's throughput as a share of the floor's;
- ``evaluateLead`` at a fixed rate (``--rate``, default 200 req/s) with hey (Debian's ``hey``:
  ``-q`` per worker times ``-c`` workers), for its latency percentiles at that rate. hey paces
  each worker: a worker whose request is late sends its next one late, so the achieved rate is
  reported too (below the target rate means the server could not keep up).

Every run also reports the server's CPU time per request (from /proc), which, unlike requests/s,
does not depend on how much of a shared machine the server got.

    python bench/bench_http.py --smoke          # seconds (skipped when wrk or hey is missing)
    python bench/bench_http.py --seconds 10 --runs 5
    python bench/bench_http.py --operations evaluate --against ../base   # A/B, interleaved

``--against`` serves another checkout too (its own ``.venv``, its own copy of the same seeded
data, its own port) and measures it just before this one in every round.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import csv
import io
import json
import math
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
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

    count = float(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    return {"rps": rps, "p50": ms("50"), "p99": ms("99"), "count": count}


def _wait_ready(server: subprocess.Popen[bytes], port: int, timeout_s: float = 600) -> None:
    """Until the server answers /healthz (a loaded machine can take minutes to start it)."""
    deadline = time.monotonic() + timeout_s
    while server.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5):
                return
        except OSError:
            if time.monotonic() > deadline:
                break
            time.sleep(0.5)
    raise SystemExit(f"the server did not start (exit code {server.poll()})")


def _post(url: str, token: str, body: str) -> None:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    request = urllib.request.Request(url, body.encode(), headers)
    with urllib.request.urlopen(request, timeout=600) as response:
        if "errors" in json.loads(response.read()):
            raise SystemExit(f"the server answered errors to {body[:200]}")


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc), NaN elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _hey(url: str, token: str, bodies: list[str], seconds: float, rate: int) -> dict[str, float]:
    """A fixed total ``rate``: one paced hey worker per body (one lead each, so no request
    waits on another's lock of the same lead), all at once."""
    pace = f"{rate / len(bodies):g}"
    auth = f"Authorization: Bearer {token}"
    command = [
        *("hey", "-z", f"{max(1, round(seconds))}s", "-c", "1", "-q", pace, "-m", "POST"),
        *("-T", "application/json", "-H", auth, "-o", "csv"),
    ]
    runs = [
        subprocess.Popen([*command, "-d", body, url], stdout=subprocess.PIPE, text=True)
        for body in bodies
    ]
    rows = []
    for run in runs:
        out, _ = run.communicate(timeout=seconds + 60)
        # a worker whose requests all outlived the run prints nothing (hey exits 1): no rows
        rows += list(csv.DictReader(io.StringIO(out))) if out.strip() else []
    if not rows:
        raise SystemExit("no evaluateLead request finished within the run")
    bad = [r["status-code"] for r in rows if r["status-code"] != "200"]
    if bad:
        raise SystemExit(f"error responses from the server: {sorted(set(bad))}")
    times = sorted(float(r["response-time"]) * 1000 for r in rows)
    span = max(float(r["offset"]) + float(r["response-time"]) for r in rows)

    def pct(q: float) -> float:
        return times[min(len(times) - 1, int(q * len(times)))]

    return {"rps": len(rows) / span, "p50": pct(0.50), "p99": pct(0.99), "max": times[-1],
            "count": float(len(rows))}  # fmt: skip


async def _prepare(url: str, leads: int, workers: int) -> tuple[list[str], str]:
    await migrate_database(url)
    await Tortoise.init(config=tortoise_config(url))
    await seed_demo(leads=leads, anchor=ANCHOR)
    engine = RulesEngine.from_dir(DEMO_RULES_DIR)
    try:
        await bootstrap(rules_dir=Path(engine.rulebook.root))
        await evaluate_leads(engine=engine, lead_ids=await all_lead_ids())
    finally:
        await engine.close()
    ids = (
        await Lead.filter(stage__in=["new", "engaged"]).limit(workers).values_list("id", flat=True)
    )
    if len(ids) < workers:  # limit(0) means no limit to tortoise: every lead
        more = Lead.exclude(id__in=ids).limit(workers - len(ids))
        ids += await more.values_list("id", flat=True)
    _, token = await create_api_key(name="bench", role=Role.ADMIN)
    await Tortoise.close_connections()
    return [base64.b64encode(f"Lead:{i}".encode()).decode() for i in ids], token


OPERATIONS = {
    "typename": "{ __typename }",
    "leads": "leads(first: 50) list page",
    "evaluate": "evaluateLead",
}


def _serve(checkout: Path, url: str) -> tuple[subprocess.Popen[bytes], str]:
    """``leadgate serve`` of a checkout (its own venv and sources) on a free port."""
    port = _free_port()
    env = {**os.environ, "LEADGATE_DATABASE_URL": url, "LEADGATE_LOG_LEVEL": "warning"}
    leadgate = checkout / ".venv" / "bin" / "leadgate"
    if checkout == ROOT:
        leadgate = Path(sys.executable).with_name("leadgate")
    server = subprocess.Popen(
        [str(leadgate), "serve", "--host", "127.0.0.1", "--port", str(port)], env=env, cwd=checkout
    )
    _wait_ready(server, port)
    return server, f"http://127.0.0.1:{port}/graphql"


def _stop(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(60)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="seconds-long run for CI")
    parser.add_argument("--leads", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=10.0, help="per measurement")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--connections", type=int, default=8, help="wrk connections")
    parser.add_argument("--rate", type=int, default=200, help="evaluateLead requests/s")
    parser.add_argument(
        "--workers", type=int, default=8, help="hey workers sharing --rate, one lead each"
    )
    parser.add_argument(
        "--operations",
        type=lambda text: [name for name in text.split(",") if name],
        default=list(OPERATIONS),
        help=f"comma-separated, of {','.join(OPERATIONS)} (default: all)",
    )
    parser.add_argument(
        "--against",
        type=Path,
        help="A/B: another checkout (with its .venv) served too, on its own copy of the data; "
        "each round measures it, then this one",
    )
    args = parser.parse_args()
    if args.smoke:
        args.leads, args.seconds, args.runs, args.rate = 40, 2, 1, 20
    missing = [tool for tool in ("wrk", "hey") if shutil.which(tool) is None]
    if missing:
        print(f"{' and '.join(missing)} not installed (apt-get install wrk hey): skipped")
        return 0
    checkouts = {"this": ROOT} if args.against is None else {"base": args.against, "this": ROOT}
    folder = tempfile.mkdtemp(prefix="leadgate-http-")
    cleanups, servers = [], []
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    try:
        lead_ids: list[str] = []
        endpoints: dict[str, tuple[str, str, int]] = {}
        for label, checkout in checkouts.items():
            url, cleanup = asyncio.run(_database())
            cleanups.append(cleanup)
            ids, token = asyncio.run(_prepare(url, args.leads, args.workers))
            lead_ids = lead_ids or ids  # the same leads on every copy (the same seed)
            server, endpoint = _serve(Path(checkout).resolve(), url)
            servers.append(server)
            endpoints[label] = (endpoint, token, server.pid)
        bodies = {
            OPERATIONS["typename"]: json.dumps({"query": TYPENAME}),
            OPERATIONS["leads"]: json.dumps({"query": LEADS}),
        }
        evaluations = [json.dumps({"query": EVALUATE, "variables": {"id": i}}) for i in lead_ids]
        bodies["evaluateLead"] = evaluations[0]
        bodies = {name: body for name, body in bodies.items()
                  if name in {OPERATIONS[o] for o in args.operations}}  # fmt: skip
        for endpoint, token, _pid in endpoints.values():  # first views out of the runs
            for body in [*bodies.values(), *evaluations]:
                _post(endpoint, token, body)
        for _ in range(args.runs):  # interleaved: operations, and checkouts within each
            for name, body in bodies.items():
                for label, (endpoint, token, pid) in endpoints.items():
                    before = _cpu_s(pid)
                    if name == "evaluateLead":
                        measured = _hey(endpoint, token, evaluations, args.seconds, args.rate)
                    else:
                        measured = _wrk(
                            endpoint, token, body, args.seconds, args.connections, folder
                        )
                    spent = (_cpu_s(pid) - before) * 1000
                    count = measured["count"]
                    measured["cpu_ms"] = spent / count if count else math.nan
                    results.setdefault((label, name), []).append(measured)
    finally:
        for server in servers:
            _stop(server)
        shutil.rmtree(folder, ignore_errors=True)
        for cleanup in cleanups:
            asyncio.run(cleanup())
    _print(args, results)
    return 0


def _print(
    args: argparse.Namespace, results: dict[tuple[str, str], list[dict[str, float]]]
) -> None:
    db = "PostgreSQL" if os.environ.get("LEADGATE_TEST_DATABASE_URL", "") else "SQLite"
    command = "python bench/bench_http.py " + " ".join(sys.argv[1:])
    lines = [
        f"### GraphQL over HTTP on {db}, one server process, load generator on loopback",
        "",
        f"`{command.strip()}` ({args.leads:,} demo leads; {args.runs} interleaved rounds of "
        f"{args.seconds:g} s). wrk with {args.connections} connections for `{{ __typename }}` "
        f"and the list page, hey at {args.rate} req/s for evaluateLead ({args.workers} paced "
        "workers, one lead each). min / median / max over the rounds; *vs floor* is each "
        "round's requests/s over `{ __typename }`'s in the same round (median); *CPU* is the "
        "server process's CPU time per request (median); *vs base*: this checkout's figure "
        "over the other's in the same round (min / median / max).",
        "",
        "| checkout | operation | req/s | p50 ms | p99 ms | vs floor | CPU ms/req | vs base |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]

    def spread(values: list[float], digits: int = 0) -> str:
        return " / ".join(
            f"{v:,.{digits}f}" for v in (min(values), statistics.median(values), max(values))
        )

    for (label, name), runs in results.items():
        rps = [r["rps"] for r in runs]
        floor = results.get((label, OPERATIONS["typename"]))
        ratio = "—"
        if floor is not None and name != "evaluateLead":
            ratios = [r["rps"] / f["rps"] for r, f in zip(runs, floor, strict=True)]
            ratio = f"{statistics.median(ratios):.0%}"
        versus = "—"
        other = results.get(("base", name))
        if label == "this" and other is not None:
            cpu = [r["cpu_ms"] / o["cpu_ms"] for r, o in zip(runs, other, strict=True)]
            p99 = [r["p99"] / o["p99"] for r, o in zip(runs, other, strict=True)]
            versus = f"CPU {spread(cpu, 2)}; p99 {spread(p99, 2)}"
        lines.append(
            f"| {label} | {name} | {spread(rps)} | {spread([r['p50'] for r in runs], 1)} "
            f"| {spread([r['p99'] for r in runs], 1)} | {ratio} "
            f"| {statistics.median(r['cpu_ms'] for r in runs):.2f} | {versus} |"
        )
    print("\n".join(lines) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
