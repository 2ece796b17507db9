"""evaluateLead's answers and stored rows, for a byte-identity check of two checkouts.

Seeds 300 demo leads into a fresh database (PostgreSQL when LEADGATE_TEST_DATABASE_URL is
set, else SQLite), evaluates them in bulk, then posts a fixed list of GraphQL operations to
the app in process (evaluateLead with many selections, dry runs, idempotent replays, bad ids,
new records forced by clearing the decision in force, stored evaluations by id, the leads
page) and dumps every answer and the lead, evaluation, domain_event, handoff and
lead_stage_change rows. evaluateLead's clock, the bulk evaluation's and the start's re-score
tick are pinned to one instant, so two runs of one checkout give the same bytes; columns the
database stamps (created_at, updated_at: today's date) and engine durations are masked.

Run from each checkout with its own venv, then compare::

    cd ../base && .venv/bin/python ../http/bench/answers_http.py /tmp/base.json
    cd ../http && .venv/bin/python bench/answers_http.py /tmp/http.json
    python bench/answers_http.py --compare /tmp/base.json /tmp/http.json
"""

from __future__ import annotations

import asyncio
import base64
import difflib
import json
import os
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

CHECKOUT = Path.cwd()  # the checkout under test: its api/, schema/ and bench/ helpers
sys.path[:0] = [str(CHECKOUT), str(CHECKOUT / "bench")]
os.environ.setdefault("LEADGATE_LOG_LEVEL", "warning")

FIXED = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
LEADS = 300
REPORT = (
    "report { rulebookVersion headline fired { name section effect } "
    "contributions { signal score points matches decayFactor value activityAgeDays } "
    "scores { name raw adjustment value cap } stage { fromStage toStage rule reason } "
    "routing { route repId why } sla { rule priority hours clock } "
    "notFired { rule section failed { condition actual required message } } }"
)
EVALUATE = "mutation($id: ID!) { evaluateLead(input: {leadId: $id}) { %s } }"
FULL = EVALUATE % (
    f"evaluation {{ id trigger stageBefore stageAfter refusedTransition input {REPORT} }} "
    f"{REPORT} lead {{ id email stage fitScore engagementScore version owner {{ name }} }} "
    "handoff { id status priority route } userErrors { code message field suggestion }"
)
BENCH = EVALUATE % "evaluation { id } report { headline } userErrors { code }"
LEAN = EVALUATE % "evaluation { id }"
LEAD_ONLY = EVALUATE % "lead { stage fitScore engagementScore } userErrors { code message }"
WHY = EVALUATE % "report { notFired { rule failed { condition actual required } } headline }"
DRY = (
    "mutation($id: ID!) { evaluateLead(input: {leadId: $id, dryRun: true}) "
    f"{{ evaluation {{ id }} {REPORT} lead {{ stage fitScore }} userErrors {{ code }} }} }}"
)
IDEMPOTENT = (
    "mutation($id: ID!, $k: String) { evaluateLead(input: {leadId: $id, idempotencyKey: $k}) "
    "{ evaluation { id stageAfter } report { headline } lead { stage } userErrors { code } } }"
)
STORED = f"query($id: ID!) {{ node(id: $id) {{ ... on Evaluation {{ id trigger stageAfter {REPORT} }} }} }}"  # noqa: E501
PAGE = (
    "{ leads(first: 50) { edges { node { email stage account { name segment } owner { name } "
    "latestEvaluation { report { headline } } } } } }"
)
TABLES = ("lead", "evaluation", "domain_event", "handoff", "lead_stage_change")


def _gid(kind: str, n: int) -> str:
    return base64.b64encode(f"{kind}:{n}".encode()).decode()


def _pin_clocks() -> None:
    """evaluateLead's clock, the bulk evaluation's (bench_http._prepare) and the re-score
    tick's: engagement decays with time, so unpinned runs differ in the fourth decimal."""
    import bench_http

    import api.periodic
    import api.qualification
    from api import bulk

    api.qualification._now = lambda: FIXED  # type: ignore[attr-defined]
    assert api.periodic.rescore.__kwdefaults__ is not None
    api.periodic.rescore.__kwdefaults__["clock"] = lambda: FIXED
    real = bulk.evaluate_leads

    async def pinned(**kwargs: Any) -> Any:
        kwargs.setdefault("now", FIXED)
        return await real(**kwargs)

    bench_http.evaluate_leads = pinned  # type: ignore[attr-defined]


async def _record() -> tuple[str, str]:
    _pin_clocks()
    from bench_bulk import _database
    from bench_http import _prepare
    from profile_http import _asgi_post
    from tortoise import Tortoise, connections

    from api.app import create_app
    from api.settings import Settings

    url, cleanup = await _database()
    answers: list[list[Any]] = []
    rows: dict[str, list[str]] = {}
    try:
        _, token = await _prepare(url, LEADS, 8)
        os.environ["LEADGATE_DATABASE_URL"] = url
        app = create_app(Settings(database_url=url, engine_workers=1))
        async with app.router.lifespan_context(app):

            async def post(query: str, **variables: Any) -> None:
                body = json.dumps({"query": query, "variables": variables}).encode()
                status, answer = await _asgi_post(app, body, token)
                answers.append([status, query[:60], variables, answer.decode()])

            async def undecide() -> None:  # no decision in force: evaluateLead records one
                await connections.get("default").execute_query("UPDATE lead SET decision = ''")

            ids = [_gid("Lead", n) for n in range(1, LEADS + 1)]
            for query in (FULL, BENCH, LEAN, LEAD_ONLY, WHY, DRY):
                for lead in ids[::9]:
                    await post(query, id=lead)
            for query in (FULL, WHY, BENCH, LEAN, FULL):
                await undecide()
                for lead in ids[1::13]:
                    await post(query, id=lead)
            for lead in ids[3:60:11]:
                await post(IDEMPOTENT, id=lead, k=f"k-{lead}")
                await post(IDEMPOTENT, id=lead, k=f"k-{lead}")
            for bad in (_gid("Lead", 99999), _gid("Account", 1), "nonsense"):
                for query in (FULL, DRY, BENCH):
                    await post(query, id=bad)
            for n in range(1, 400, 7):
                await post(STORED, id=_gid("Evaluation", n))
            await post(PAGE)
            for table in TABLES:
                _, found = await connections.get("default").execute_query(
                    f'SELECT * FROM "{table}" ORDER BY id'
                )
                rows[table] = [json.dumps(dict(r), default=str, sort_keys=True) for r in found]
    finally:
        await Tortoise.close_connections()
        await cleanup()
    text = json.dumps({"answers": answers, "rows": rows}, indent=0)
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    text = re.sub(rf"{today}[T ][0-9:.]+(\+00:00|Z)?", "<now>", text)
    text = re.sub(r'(duration_?[mM]s\\?"?:\s*)[0-9.e-]+', r"\1<ms>", text)
    counts = ", ".join(f"{t} {len(r)} rows" for t, r in rows.items())
    return text, f"{len(answers)} answers; {counts}"


def _lines(path: Path) -> list[str]:
    data = json.loads(path.read_text())
    lines = [json.dumps(a) for a in data["answers"]]
    return lines + [f"{t} {r}" for t, some in data["rows"].items() for r in some]


def _compare(a: Path, b: Path) -> int:
    if a.read_bytes() == b.read_bytes():
        print(f"byte-identical: {a} {b}")
        return 0
    for line in list(difflib.unified_diff(_lines(a), _lines(b), lineterm="", n=0))[:20]:
        print(line[:400])
    return 1


def main() -> int:
    args = sys.argv[1:]
    if len(args) == 3 and args[0] == "--compare":
        return _compare(Path(args[1]), Path(args[2]))
    if len(args) != 1:
        print(__doc__)
        return 2
    text, summary = asyncio.run(_record())
    Path(args[0]).write_text(text)
    print(args[0], summary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
