"""Identity of ``leadgate rules simulate`` between two checkouts, clock pinned.

Seeds one throw-away database (demo leads, as bench/bench_lifecycle.py seeds; PostgreSQL when
LEADGATE_TEST_DATABASE_URL is set, else SQLite), then runs each candidate's simulation with
each checkout's own code (its ``.venv``), in a subprocess, at a fixed ``now``, and compares
what they print: the ``--json`` report (``api.cli_simulate.impact_json``) plus every sample's
full before/after results (what ``simulateRulebook`` shows of them; ``duration_ms`` left out).
Simulate writes nothing, so both read the same rows.

    python bench/answers_simulate.py --against /work/wt/base --leads 3000
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)  # a Friday: reps at work, leads routed
ANCHOR = date(2026, 11, 27)
EDITS = {  # candidate name → (file, old text, new text) of the demo rulebook
    "gate20": ("lifecycle.yaml", "- {field: scores.engagement, gte: 30}",
               "- {field: scores.engagement, gte: 20}"),
    "window45": ("lifecycle.yaml", "- activity: {type: demo_request, within_days: 30}",
                 "- activity: {type: demo_request, within_days: 45}"),
    "same": ("lifecycle.yaml", "", ""),
}  # fmt: skip


def candidates(work: Path, demo: Path) -> dict[str, Path]:
    out = {}
    for name, (file, old, new) in EDITS.items():
        folder = work / name
        folder.mkdir(parents=True, exist_ok=True)
        for path in demo.glob("*.yaml"):
            text = path.read_text("utf-8")
            if path.name == file and old:
                assert old in text, (name, old)
                text = text.replace(old, new, 1)
            (folder / path.name).write_text(text, "utf-8")
        out[name] = folder
    return out


async def dump(url: str, folder: Path, server: bool = False) -> None:
    """In the checkout under test (its code first on sys.path): the report as JSON."""
    from tortoise import Tortoise

    from api.cli_simulate import impact_json
    from api.db import tortoise_config
    from api.engine import RulesEngine
    from api.lead_filter import LeadFilter
    from api.models import SalesRep
    from api.rulebook_store import load_version
    from api.rulebook_versions import bootstrap
    from api.settings import DEMO_RULES_DIR
    from api.simulation import simulate
    from rules import load_rulebook

    await Tortoise.init(config=tortoise_config(url))
    try:
        row, _ = await bootstrap(rules_dir=DEMO_RULES_DIR)
        current = RulesEngine(load_version(row), workers=2)
        if server:  # as simulateRulebook: the candidate on the app's candidate pool
            from api.candidates import CandidateEngines

            shared = CandidateEngines()
            candidate = await shared.engine(load_rulebook(folder))
            candidate.close = shared.close  # type: ignore[method-assign]
        else:
            candidate = RulesEngine(load_rulebook(folder), workers=2)
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            impact = await simulate(
                current=current, candidate=candidate, lead_filter=LeadFilter.parse(), now=NOW
            )
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        finally:
            await current.close()
            await candidate.close()
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        spent = {"wall": wall, "parent": cpu, "workers": children.ru_utime + children.ru_stime}
        print("CPU " + json.dumps(spent), file=sys.stderr)
        reps = dict(await SalesRep.all().values_list("id", "name"))
        data = impact_json(impact, reps)
        data["full"] = {
            kind: [
                [s.before.model_dump(mode="json", exclude={"duration_ms"}),
                 s.after.model_dump(mode="json", exclude={"duration_ms"})]
                for s in samples
            ]
            for kind, samples in impact.samples.items()
        }  # fmt: skip
        print(json.dumps(data, sort_keys=True, indent=1, default=str))
    finally:
        await Tortoise.close_connections()


async def seed(leads: int) -> tuple[str, object]:
    sys.path[:0] = [str(ROOT)]
    from tortoise import Tortoise

    from api.db import tortoise_config
    from api.demo import seed_demo
    from api.migrate import migrate_database
    from api.rulebook_versions import bootstrap
    from api.settings import DEMO_RULES_DIR
    from bench.bench_bulk import _database, _grow

    url, cleanup = await _database()
    await migrate_database(url)
    await Tortoise.init(config=tortoise_config(url))
    await seed_demo(leads=min(leads, 5000), anchor=ANCHOR)
    await _grow(url, leads)
    await bootstrap(rules_dir=DEMO_RULES_DIR)
    await Tortoise.close_connections()
    return url, cleanup


def _summary(other: list[dict[str, float]], this: list[dict[str, float]], leads: int) -> None:
    """min / median / max per side, per-pair ratios other / this, CPU per lead."""
    for key in ("wall", "parent", "workers", "all"):
        for runs in (other, this):
            for r in runs:
                r["all"] = r["parent"] + r["workers"]

        def mmm(xs: list[float]) -> str:
            return f"{min(xs):.2f} / {statistics.median(xs):.2f} / {max(xs):.2f}"

        a, b = [r[key] for r in other], [r[key] for r in this]
        ratios = [x / y for x, y in zip(a, b, strict=True)]
        per_lead = "" if key == "wall" else (
            f"; ms per lead {statistics.median(a) / leads * 1e3:.3f} → "
            f"{statistics.median(b) / leads * 1e3:.3f}"
        )  # fmt: skip
        print(f"{key}: other {mmm(a)} s, this {mmm(b)} s, other/this {mmm(ratios)}{per_lead}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--against", type=Path, help="the other checkout (with its .venv)")
    parser.add_argument("--leads", type=int, default=3000, help="copies beyond 5,000 seeded")
    parser.add_argument(
        "--pairs", type=int, default=1, help="runs per checkout, alternated (other, this, …)"
    )
    parser.add_argument("--only", help="one candidate (gate20, window45, same)")
    parser.add_argument(
        "--server", action="store_true", help="candidate on the app's pool (simulateRulebook)"
    )
    parser.add_argument("--dump", nargs=2, metavar=("URL", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.dump:
        sys.path[:0] = [os.getcwd()]
        asyncio.run(dump(args.dump[0], Path(args.dump[1]), args.server))
        return 0

    async def run() -> int:
        url, cleanup = await seed(args.leads)
        work = Path(tempfile.mkdtemp(prefix="leadgate-answers-sim-"))
        failed = 0
        try:
            spent: dict[Path, list[dict[str, float]]] = {args.against: [], ROOT: []}
            for name, folder in candidates(work, ROOT / "rules" / "demo").items():
                if args.only and name != args.only:
                    continue
                outs: dict[Path, str] = {}
                for tree in [args.against, ROOT] * args.pairs:
                    proc = await asyncio.to_thread(
                        subprocess.run,
                        ["nice", "-n", "5", str(tree / ".venv/bin/python"), __file__,
                         "--dump", url, str(folder), *(["--server"] if args.server else [])],
                        cwd=tree, capture_output=True, text=True, check=False,
                        env={**os.environ, "PYTHONPATH": str(tree)},
                    )  # fmt: skip
                    if proc.returncode:
                        print(proc.stderr[-3000:], file=sys.stderr)
                        return 2
                    cpu = json.loads(proc.stderr.rsplit("CPU ", 1)[1])
                    spent[tree].append(cpu)
                    print(f"  {tree}: " + ", ".join(f"{k} {v:.2f}s" for k, v in cpu.items()))
                    if outs.setdefault(tree, proc.stdout) != proc.stdout:
                        print(f"  {tree}: NOT the same output twice")
                        failed += 1
                same = outs[args.against] == outs[ROOT]
                failed += not same
                data = json.loads(outs[ROOT])
                digest = hashlib.sha256(outs[ROOT].encode()).hexdigest()[:16]
                print(
                    f"{name}: {'identical' if same else 'DIFFERENT'} ({len(outs[ROOT])} bytes, "
                    f"sha256 {digest}; {data['leads']} leads, {data['moved']} moved, "
                    f"{data['handoffs']} handoffs, {data['stays']['leads']} stays, "
                    f"{sum(map(len, data['samples'].values()))} samples, "
                    f"{len(data['owners'])} owners changed)"
                )
                moves = ", ".join(f"{m['from']}→{m['to']} {m['leads']}" for m in data["moves"])
                print(f"  moves: {moves}")
                if not same:
                    (work / f"{name}.other.json").write_text(outs[args.against])
                    (work / f"{name}.this.json").write_text(outs[ROOT])
                    print(f"  kept in {work}")
            if args.pairs > 1:
                _summary(spent[args.against], spent[ROOT], args.leads)
        finally:
            await cleanup()  # type: ignore[operator]
        return 1 if failed else 0

    return asyncio.run(run())


if __name__ == "__main__":
    sys.exit(main())
