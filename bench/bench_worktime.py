"""Working calendars on the evaluation path (issue 16): the calendar functions alone, and a
routed evaluation of the demo rulebook with its territory working hours against the same
rulebook without them (interleaved, so the ratio is fair on a shared machine).

    python bench/bench_worktime.py --smoke            # seconds; what CI runs
    python bench/bench_worktime.py --runs 5           # prints a markdown report
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from rules import EvaluationInput, Evaluator, load_rulebook_files, read_rulebook_files  # noqa: E402
from rules.worktime import (  # noqa: E402
    Absence,
    Calendar,
    add_working_time,
    available,
    next_available,
    parse_hours,
    unavailable_reason,
)

DEMO = ROOT / "rules" / "demo"
NOW = datetime(2026, 12, 24, 20, 0, tzinfo=UTC)  # Christmas Eve, 15:00 in New York
CAL = Calendar(
    "America/New_York",
    parse_hours({"mon-fri": "09:00-17:00"}),
    "US",
    absences=(Absence(NOW + timedelta(days=10), NOW + timedelta(days=14)),),
)


def per_call_us(fn: Callable[[], object], calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - started) / calls * 1e6


def lead(i: int) -> EvaluationInput:
    """A US enterprise VP with a demo request: routed (NA queue) with priority p1."""
    reps = [
        {"rep_id": f"r{n}", "name": f"Rep {n}", "territory": t, "segments": [s], "capacity": 50,
         "last_assigned_at": NOW - timedelta(hours=n + 1)}
        for n, (t, s) in enumerate(
            [("NA", "enterprise"), ("NA", "enterprise"), ("NA", "mid_market"), ("NA", "smb"),
             ("EMEA", "enterprise"), ("EMEA", "mid_market"), ("APAC", "enterprise")] * 2
        )
    ]  # fmt: skip
    return EvaluationInput.model_validate(
        {
            "lead": {"email": f"vp{i}@big.com", "title": "VP", "seniority": "vp",
                     "country": "US"},
            "account": {"employee_count": 1500 + i, "industry": "software"},
            "activities": [{"type": "demo_request", "occurred_at": NOW - timedelta(days=1)}],
            "reps": reps,
            "now": NOW + timedelta(minutes=i),
        }
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny run (CI)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--leads", type=int, default=300)
    args = parser.parse_args()
    runs, calls, leads = (1, 200, 10) if args.smoke else (args.runs, args.calls, args.leads)

    files = read_rulebook_files(DEMO)
    without = {k: v for k, v in files.items() if k != "working_time.yaml"}
    books = {"with working time": load_rulebook_files(files),
             "without working_time section": load_rulebook_files(without)}  # fmt: skip
    inputs = [lead(i) for i in range(leads)]
    functions: dict[str, Callable[[], object]] = {
        "available": lambda: available(CAL, NOW),
        "unavailable_reason (available)": lambda: unavailable_reason(CAL, NOW),
        "next_available (after hours)": lambda: next_available(CAL, NOW + timedelta(hours=3)),
        "add_working_time 4 h (across holiday and weekend)": lambda: add_working_time(CAL, NOW, 4),
        "add_working_time 72 h": lambda: add_working_time(CAL, NOW, 72),
    }
    timings: dict[str, list[float]] = {name: [] for name in [*functions, *books]}
    evaluators = {name: Evaluator(book) for name, book in books.items()}
    try:
        for ev in evaluators.values():
            ev.evaluate(inputs[0], explain=False)  # warm caches (holidays, compile)
        for _ in range(runs):
            for name, fn in functions.items():
                timings[name].append(per_call_us(fn, calls))
            for name, ev in evaluators.items():  # interleaved per run
                started = time.perf_counter()
                for inp in inputs:
                    ev.evaluate(inp, explain=False)
                timings[name].append((time.perf_counter() - started) / len(inputs) * 1e6)
    finally:
        for ev in evaluators.values():
            ev.close()
    print(f"Machine: {platform.processor() or platform.machine()}, Python "
          f"{platform.python_version()}; {runs} runs, {calls} calls, {leads} leads\n")  # fmt: skip
    print("| what | min µs | median µs | max µs |\n|---|---:|---:|---:|")
    for name, values in timings.items():
        kind = "evaluation, " if name in books else ""
        print(f"| {kind}{name} | {min(values):,.1f} | {statistics.median(values):,.1f} | "
              f"{max(values):,.1f} |")  # fmt: skip
    ratios = [a / b for a, b in zip(*(timings[n] for n in books), strict=True)]
    print(f"\nWith / without working time, per run: {', '.join(f'{r:.2f}' for r in ratios)}")


if __name__ == "__main__":
    main()
