"""The server's CPU per GraphQL request, in process, without a load generator's noise.

The ASGI app (its lifespan running: engine workers, background loops) driven by httpx's
``ASGITransport``, requests one after the other, the process's CPU time per request (the
engine workers are other processes; the client's share is included unless ``--client
asgi``, which calls the app directly). The operations are bench/bench_http.py's:
``{ __typename }``, the leads list page and ``evaluateLead`` over a few leads in turn.
``--profile`` writes a cProfile (process clock) of one operation's requests.

    python bench/profile_http.py --prepare            # seeds a database, prints its URL
    python bench/profile_http.py --url URL --runs 5   # per operation: min / median / max
    python bench/profile_http.py --url URL --profile evaluate --out eval.prof

With LEADGATE_TEST_DATABASE_URL set, ``--prepare`` creates a PostgreSQL database (dropped by
nothing: pass it to later runs, drop it yourself); else a SQLite file. A/B: run this file
from each checkout against the same URL, alternately.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(Path(__file__).parent)]

os.environ.setdefault("LEADGATE_LOG_LEVEL", "warning")

import httpx  # noqa: E402
from bench_bulk import _database  # noqa: E402
from bench_http import EVALUATE, LEADS, TYPENAME, _prepare  # noqa: E402

OPERATIONS = ("typename", "leads", "evaluate")


async def _measure(url: str, token: str, lead_ids: list[str], args: argparse.Namespace) -> None:
    os.environ["LEADGATE_DATABASE_URL"] = url
    from api.app import create_app
    from api.settings import Settings

    app = create_app(Settings(database_url=url, engine_workers=1))
    bodies: dict[str, list[dict[str, Any]]] = {
        "typename": [{"query": TYPENAME}],
        "leads": [{"query": LEADS}],
        "evaluate": [{"query": EVALUATE, "variables": {"id": i}} for i in lead_ids],
    }
    headers = {"Authorization": f"Bearer {token}"}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            encoded = {n: [json.dumps(b).encode() for b in some] for n, some in bodies.items()}

            async def post(name: str, n: int) -> tuple[int, bytes]:
                if args.client == "asgi":
                    return await _asgi_post(app, encoded[name][n % len(encoded[name])], token)
                body = bodies[name][n % len(bodies[name])]
                answer = await client.post("/graphql", json=body, headers=headers)
                return answer.status_code, answer.content

            async def run(name: str, count: int) -> float:
                started = time.process_time()
                for n in range(count):
                    status, content = await post(name, n)
                    if status != 200 or "errors" in json.loads(content):
                        raise SystemExit(f"{name}: {status} {content[:300]!r}")
                return (time.process_time() - started) * 1000 / count

            for name in args.operations:  # warm: first views, caches
                await run(name, 2 * len(bodies[name]))
            if args.profile:
                profiler = cProfile.Profile(time.process_time)
                profiler.enable()
                await run(args.profile, args.requests)
                profiler.disable()
                profiler.dump_stats(args.out)
                print(f"wrote {args.out}")
                return
            spent: dict[str, list[float]] = {name: [] for name in args.operations}
            for _ in range(args.runs):
                for name in args.operations:
                    spent[name].append(await run(name, args.requests))
    for name, values in spent.items():
        low, mid, high = min(values), statistics.median(values), max(values)
        print(f"{name:10} CPU ms/req {low:.2f} / {mid:.2f} / {high:.2f}")
    print(json.dumps({name: statistics.median(v) for name, v in spent.items()}))


async def _asgi_post(app: Any, body: bytes, token: str) -> tuple[int, bytes]:
    """One POST straight through the ASGI interface: no client library's work in the figure
    (httpx's is ~0.3-1 ms a request), so it is the server's CPU alone."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"bench"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"authorization", f"Bearer {token}".encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("bench", 80),
    }
    sent = False
    status = 0
    parts: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # no disconnect while the request runs
        raise AssertionError

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            parts.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(parts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prepare", action="store_true", help="seed a database, print its URL")
    parser.add_argument("--leads", type=int, default=2000)
    parser.add_argument("--url", help="a database --prepare made")
    parser.add_argument("--token", help="its API key (printed by --prepare)")
    parser.add_argument("--ids", help="comma-separated lead ids (printed by --prepare)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--requests", type=int, default=150, help="per run and operation")
    parser.add_argument(
        "--operations",
        type=lambda text: [name for name in text.split(",") if name],
        default=list(OPERATIONS),
        help=f"comma-separated, of {','.join(OPERATIONS)} (default: all)",
    )
    parser.add_argument(
        "--client",
        choices=("httpx", "asgi"),
        default="httpx",
        help="httpx (as earlier figures) or asgi: the app called directly, server CPU alone",
    )
    parser.add_argument("--profile", choices=OPERATIONS)
    parser.add_argument("--out", default="http.prof")
    args = parser.parse_args()
    if args.prepare:
        url, _ = asyncio.run(_database())
        ids, token = asyncio.run(_prepare(url, args.leads, 8))
        print(f"--url {url} --token {token} --ids {','.join(ids)}")
        return 0
    if not (args.url and args.token and args.ids):
        parser.error("--url, --token and --ids (from --prepare)")
    asyncio.run(_measure(args.url, args.token, args.ids.split(","), args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
