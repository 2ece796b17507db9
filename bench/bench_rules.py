"""Rule engine benchmark: evaluations/second on one core and RSS over many evaluations.

Compares, in one run and on the same generated leads and the demo rulebook:
  - leadgate on durable_rules (full outcome, with and without the explainer),
  - the bare engine step (assert facts, walk fired actions, delete session),
  - plain Python deciding the same rules,
  - the business-rules package on an equivalent rule set.

    python bench/bench_rules.py                 # ~1 minute, prints a markdown report
    python bench/bench_rules.py --smoke         # seconds; what CI runs
    python bench/bench_rules.py --memory-evals 1000000 --write docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import random
import resource
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(Path(__file__).parent)]

from rules_baselines import BusinessRulesEvaluator, PythonEvaluator  # noqa: E402

from rules import (  # noqa: E402
    EvaluationInput,
    Evaluator,
    Rulebook,
    WhyNot,
    load_rulebook,
    load_rulebook_files,
)
from rules.compiler import SUBJECT_1, SUBJECT_2, fact_field, number  # noqa: E402
from rules.facts import build_facts  # noqa: E402
from rules.session import SUBJECT_1_ID, SUBJECT_2_ID  # noqa: E402
from rules.synthetic import synthetic_rulebook  # noqa: E402

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
DEMO = ROOT / "rules" / "demo"

COUNTRIES = [("US", 30), ("GB", 8), ("DE", 8), ("FR", 5), ("CA", 5), ("NL", 3), ("AU", 4)]
COUNTRIES += [("JP", 3), ("IN", 5), ("BR", 4), ("SG", 2), ("MX", 2), ("ES", 3), ("SE", 2)]
COUNTRIES += [("IR", 1), ("ZA", 1)]
TITLES = [
    "VP Marketing",
    "Vice President, Sales",
    "Chief Revenue Officer",
    "Head of Growth",
    "Director of Demand Generation",
    "Marketing Manager",
    "Sales Development Rep",
    "Software Engineer",
    "Founder & CEO",
    "Graduate Student",
    "Marketing Intern",
    "RevOps Analyst",
]
INDUSTRIES = ["software", "fintech", "healthcare", "ecommerce", "media", "retail", "logistics"]
ACTIVITY_MIX = [
    ("page_view", 40),
    ("email_open", 20),
    ("email_click", 8),
    ("content_download", 6),
    ("pricing_page_view", 5),
    ("form_submit", 4),
    ("webinar_attended", 3),
    ("demo_request", 2),
    ("trial_signup", 2),
    ("meeting_booked", 1),
]
FREE = ["gmail.com", "yahoo.com", "outlook.com"]
COMPETITORS = ["hubspot.com", "salesforce.com"]


def _pick(rng: random.Random, weighted: list[tuple[str, int]]) -> str:
    return rng.choices([v for v, _ in weighted], [w for _, w in weighted])[0]


def demo_reps() -> list[dict[str, Any]]:
    reps = []
    for territory in ("NA", "EMEA", "APAC"):
        for segment in ("enterprise", "mid_market", "smb"):
            for i in range(2):
                reps.append(
                    {
                        "rep_id": f"{territory.lower()}_{segment}_{i}",
                        "territory": territory,
                        "segments": [segment],
                        "capacity": 20,
                        "open_handoffs": 5 + i * 7,
                        "last_assigned_at": NOW - timedelta(hours=3 + 5 * i),
                    }
                )
    return reps


def generate_leads(n: int, seed: int = 7) -> list[EvaluationInput]:
    """Realistic leads: skewed countries, log-normal company sizes, 0-60 activities."""
    rng = random.Random(seed)
    reps = demo_reps()
    leads = []
    for i in range(n):
        size = int(rng.lognormvariate(5, 1.6))
        domain = (
            rng.choice(FREE)
            if rng.random() < 0.15
            else rng.choice(COMPETITORS)
            if rng.random() < 0.02
            else f"company{rng.randrange(5000)}.com"
        )
        activities = [
            {
                "type": _pick(rng, ACTIVITY_MIX),
                "occurred_at": NOW - timedelta(days=rng.uniform(0, 120)),
            }
            for _ in range(min(60, int(rng.expovariate(1 / 10))))
        ]
        lead = {
            "email": f"person{i}@{domain}",
            "title": rng.choice(TITLES),
            "seniority": rng.choice(["c_level", "vp", "director", "manager", "ic"]),
            "department": rng.choice(["sales", "marketing", "it", "finance", "revenue_operations"]),
            "country": _pick(rng, COUNTRIES),
            "source": rng.choice(["webinar", "organic", "paid_search", "event"]),
            "campaign": f"cmp_{rng.randrange(12)}",
            "stage": rng.choice(["new", "new", "new", "engaged", "recycled"]),
            "created_at": NOW - timedelta(days=rng.uniform(0, 200)),
        }
        account = {
            "domain": domain,
            "industry": rng.choice(INDUSTRIES),
            "employee_count": size,
            "annual_revenue": float(size * rng.randrange(50_000, 300_000)),
            "segment": "enterprise" if size >= 1000 else "mid_market" if size >= 200 else "smb",
        }
        adjustments = []
        if rng.random() < 0.2:
            adjustments.append(
                {
                    "score": "fit",
                    "delta": -10,
                    "scope": "segment",
                    "scope_value": "smb",
                    "expires_at": NOW + timedelta(days=20),
                }
            )
        leads.append(
            EvaluationInput.model_validate(
                {
                    "lead": lead,
                    "account": account,
                    "activities": activities,
                    "adjustments": adjustments,
                    "reps": reps,
                    "now": NOW,
                }
            )
        )
    return leads


def rates(
    modes: list[tuple[str, Callable[[EvaluationInput], object]]],
    leads: list[EvaluationInput],
    secs: float,
    rounds: int,
) -> dict[str, list[float]]:
    """µs per evaluation per mode and round. Modes are interleaved within every round (one
    interleaved run), so background load on a shared machine skews every mode of a round alike:
    ratios are taken per round, absolute figures reported as min/median/max over rounds."""
    samples: dict[str, list[float]] = {name: [] for name, _ in modes}
    for _, fn in modes:
        for inp in leads[:50]:
            fn(inp)
    for _ in range(rounds):
        for name, fn in modes:
            gc.collect()
            done, started = 0, time.process_time()
            while True:
                for inp in leads:
                    fn(inp)
                done += len(leads)
                elapsed = time.process_time() - started
                if elapsed >= secs / rounds:
                    break
            samples[name].append(elapsed / done * 1e6)
    return samples


def spread(values: list[float]) -> str:
    """min / median / max, rounded for a table."""
    return " / ".join(f"{v:,.0f}" for v in (min(values), statistics.median(values), max(values)))


def ratio(samples: dict[str, list[float]], slow: str, fast: str) -> str:
    """slow/fast per round (same round: interleaved); median, and the range over rounds."""
    per_round = [a / b for a, b in zip(samples[slow], samples[fast], strict=True)]
    low, mid, high = min(per_round), statistics.median(per_round), max(per_round)
    return f"{mid:.2f}x ({low:.2f} to {high:.2f})"


def pin_one_core() -> str:
    """Run on one CPU (the last), as the target is stated per core."""
    try:
        cpu = max(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
    except (AttributeError, OSError):
        return "not pinned"
    return f"pinned to CPU {cpu}"


def _facts(ev: Evaluator, inp: EvaluationInput) -> Any:
    """The facts ``ev.evaluate`` builds for ``inp``."""
    compiled = ev.compiled
    return build_facts(ev.book, inp, None, compiled.regexes, ev._fields, compiled.activity_windows)


def engine_only(
    ev: Evaluator, leads: list[EvaluationInput], *, reuse: bool = False
) -> Callable[[EvaluationInput], None]:
    """The bare engine step with facts prepared up front: the same facts and rulesets as the
    evaluator (per-ruleset subject fields, activities of the types each ruleset tests), encoded
    with a reused JSON encoder, asserted, actions walked; then the sessions deleted (the loop as
    issue 9 defines it) or, with ``reuse``, one session kept and the facts retracted, subjects
    first, by id (what the evaluator does, without its check that the session is clean)."""
    import json

    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    prepared = {}
    for inp in leads:
        facts = _facts(ev, inp)
        result = ev.decide(inp, explain=False)
        subject_2 = dict(facts.subject)
        for name, score in result["scores"].items():
            subject_2[fact_field(f"scores.{name}")] = number(score["value"])
        prepared[id(inp)] = (facts, subject_2)
    parts = list(zip(ev.rulesets, ev._activity_types, ev._decides, ev._part_keys, strict=True))
    kept = parts[0][0].new_sid()

    def run(inp: EvaluationInput) -> None:
        facts, subject_2 = prepared[id(inp)]
        sid = kept if reuse else parts[0][0].new_sid()
        acts = [{**a, "id": i, "sid": sid} for i, a in enumerate(facts.activities)]
        subject_1 = facts.subject
        asserted = []
        for ruleset, types, _, (keys_1, _) in parts:
            sent = acts if len(parts) == 1 else [a for a in acts if a["type"] in types]
            fact = {k: subject_1[k] for k in keys_1 if k in subject_1}
            fact.update(k=SUBJECT_1, id=SUBJECT_1_ID, sid=sid)
            ruleset.assert_facts(encode([*sent, fact]))
            asserted.append([fact, *sent])
        for (ruleset, _, decides, (_, keys_2)), texts in zip(parts, asserted, strict=True):
            if decides:
                fact = {k: subject_2[k] for k in keys_2 if k in subject_2}
                fact.update(k=SUBJECT_2, id=SUBJECT_2_ID, sid=sid)
                ruleset.assert_facts(encode([fact]))
                texts.insert(0, fact)
        for (ruleset, _, _, _), texts in zip(parts, asserted, strict=True):
            if reuse:
                ruleset.retract_facts(encode([{"id": f["id"], "sid": sid} for f in texts]))
            else:
                ruleset.delete(sid)

    return run


def why_not_on_demand(
    ev: Evaluator, leads: list[EvaluationInput]
) -> Callable[[EvaluationInput], None]:
    """What ``report { notFired }`` costs per request: replay a stored record (its input, fired
    rules and scores) on the rulebook, without the engine. Records are prepared up front."""
    replay = WhyNot(ev.compiled)
    stored = {}
    for inp in leads:
        result = ev.decide(inp, explain=False)
        fired = {f["name"] for f in result["fired"]}
        stored[id(inp)] = (fired, {n: s["value"] for n, s in result["scores"].items()})

    def run(inp: EvaluationInput) -> None:
        fired, scores = stored[id(inp)]
        replay.not_fired(inp, fired=fired, scores=scores)

    return run


def business_rules_only(
    ev: BusinessRulesEvaluator, leads: list[EvaluationInput]
) -> Callable[[EvaluationInput], None]:
    """business-rules ``run_all`` over both phases with facts prepared up front."""
    prepared = {}
    for inp in leads:
        facts = _facts(ev, inp)
        result = ev.decide(inp, explain=False)
        subject_2 = dict(facts.subject)
        for name, score in result["scores"].items():
            subject_2[fact_field(f"scores.{name}")] = number(score["value"])
        prepared[id(inp)] = (facts, subject_2)

    def run(inp: EvaluationInput) -> None:
        facts, subject_2 = prepared[id(inp)]
        ev._match_signals("", facts)
        ev._match_decisions("", subject_2, facts)

    return run


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def memory_run(ev: Evaluator, leads: list[EvaluationInput], n: int) -> list[tuple[int, float]]:
    samples = [(0, rss_mb())]
    step = max(1, n // 10)
    for i in range(1, n + 1):
        ev.evaluate(leads[i % len(leads)], explain=False)
        if i % step == 0:
            samples.append((i, rss_mb()))
    return samples


def agreement(book: Rulebook, leads: list[EvaluationInput]) -> tuple[int, int]:
    """How many leads get the same fired set from the three matchers (sanity check)."""
    evs = [Evaluator(book), PythonEvaluator(book), BusinessRulesEvaluator(book)]
    same = 0
    for inp in leads:
        fired = [sorted(e.evaluate(inp, explain=False).fired_names) for e in evs]
        same += fired[0] == fired[1] == fired[2]
    return same, len(leads)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    from importlib.metadata import version

    import durable  # noqa: F401

    return (
        f"{cpu}; {os.cpu_count()} logical CPUs; Python {platform.python_version()}; "
        f"durable-rules {version('durable_rules')}; business-rules {version('business-rules')}; "
        f"{platform.system()} {platform.release()}"
    )


def sizes_section(
    sizes: list[int], leads: list[EvaluationInput], secs: float, rounds: int
) -> list[str]:
    """Generated rulebooks (rules/synthetic.py) of each size: leadgate vs its own engine step
    and vs business-rules where that package can express the rulebook."""
    lines = [
        "",
        "### Generated rulebooks",
        "",
        "`rules/synthetic.py`: field tests, activity counts over many distinct windows, "
        "combinations, about 5% stage rules. Same leads as above. Modes interleaved per size; "
        f"µs per evaluation as min / median / max of {rounds} rounds; ratios per round, median "
        "(range).",
        "",
        "| rules | engine rulesets | full evaluation µs | same, fresh sessions µs "
        "| engine step µs (delete session) "
        "| engine step µs (reused session) | wrapper / step (delete) | wrapper / step (reused) "
        "| business-rules full µs | leadgate vs business-rules | why-not on demand µs |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for size in sizes:
        book = load_rulebook_files(synthetic_rulebook(size))
        ev = Evaluator(book)
        fresh = Evaluator(book, reuse_sessions=False)
        modes: list[tuple[str, Callable[[EvaluationInput], object]]] = [
            ("full", lambda i, ev=ev: ev.decide(i, explain=False)),
            ("full_fresh", lambda i, ev=fresh: ev.decide(i, explain=False)),
            ("step", engine_only(ev, leads)),
            ("step_reuse", engine_only(ev, leads, reuse=True)),
            ("whynot", why_not_on_demand(ev, leads)),
        ]
        try:
            business = BusinessRulesEvaluator(book)
            modes.append(("business", lambda i, b=business: b.decide(i, explain=False)))
        except Exception as exc:  # the package cannot express every rulebook
            print(f"business-rules cannot run {size} rules: {exc}", file=sys.stderr)
        r = rates(modes, leads, secs, rounds)
        has_biz = "business" in r
        lines.append(
            f"| {size:,} | {len(ev.rulesets)} | {spread(r['full'])} | {spread(r['full_fresh'])} "
            f"| {spread(r['step'])} "
            f"| {spread(r['step_reuse'])} | {ratio(r, 'full', 'step')} "
            f"| {ratio(r, 'full', 'step_reuse')} "
            f"| {spread(r['business']) if has_biz else 'n/a'} "
            f"| {ratio(r, 'business', 'full') if has_biz else 'n/a'} | {spread(r['whynot'])} |"
        )
        ev.close()
        fresh.close()
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="seconds-long run for CI")
    parser.add_argument("--leads", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=5.0, help="per measured mode")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (>= 5)")
    parser.add_argument("--memory-evals", type=int, default=100_000)
    parser.add_argument("--write", type=Path, help="replace the 'Rule engine' section of this file")
    parser.add_argument("--sizes", default="50,200,1000", help="generated rulebook sizes")
    args = parser.parse_args()
    if args.smoke:
        args.leads, args.seconds, args.rounds, args.memory_evals = 60, 0.25, 5, 500
        args.sizes = "50"
    pinned = "not pinned (smoke)" if args.smoke else pin_one_core()
    load_before = _load()
    book = load_rulebook(DEMO)
    leads = generate_leads(args.leads)
    same, total = agreement(book, leads[:300])
    leadgate = Evaluator(book)
    fresh = Evaluator(book, reuse_sessions=False)
    python = PythonEvaluator(book)
    business = BusinessRulesEvaluator(book)
    modes: list[tuple[str, Callable[[EvaluationInput], object]]] = [
        ("full", lambda i: leadgate.decide(i, explain=False)),
        ("full_fresh", lambda i: fresh.decide(i, explain=False)),
        ("full_model", lambda i: leadgate.evaluate(i, explain=False)),
        ("explain", leadgate.evaluate),
        ("whynot", why_not_on_demand(leadgate, leads)),
        ("step", engine_only(leadgate, leads)),
        ("step_reuse", engine_only(leadgate, leads, reuse=True)),
        ("python", lambda i: python.decide(i, explain=False)),
        ("business_step", business_rules_only(business, leads)),
        ("business", lambda i: business.decide(i, explain=False)),
    ]
    labels = {
        "full": "leadgate full evaluation (plain data, `Evaluator.decide`)",
        "full_fresh": "same, a fresh engine session per lead (`reuse_sessions=False`)",
        "full_model": "same, validated into an `EvaluationResult` (`Evaluator.evaluate`)",
        "explain": "same, with explanations computed at evaluation time",
        "whynot": "why-not on demand: replay of a stored record (per request)",
        "step": "raw durable_rules loop, same facts prebuilt (assert, walk, delete session)",
        "step_reuse": "same raw loop in one reused session (assert, walk, retract the facts)",
        "python": "plain Python matcher, same outcome code",
        "business_step": "business-rules matcher only, facts prebuilt",
        "business": "business-rules matcher, same outcome code",
    }
    r = rates(modes, leads, args.seconds, args.rounds)
    samples = memory_run(leadgate, leads, args.memory_evals)
    command = ".venv/bin/python bench/bench_rules.py " + " ".join(sys.argv[1:])
    activities = sum(len(i.activities) for i in leads) / len(leads)
    lines = [
        "## Rule engine",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d} with `nice {command.strip()}` (one process "
        f"{pinned}; CPU time per evaluation; {args.rounds} rounds of "
        f"{args.seconds / args.rounds:g} s per mode, all modes interleaved within each round).",
        "",
        f"Machine: {machine()}.",
        "",
        f"Workload: the demo rulebook ({len(book.rule_names())} rules, "
        f"{len(leadgate.compiled.definition)} compiled engine rules) on {len(leads)} generated "
        f"leads (skewed countries, log-normal company sizes, {activities:.1f} activities per lead "
        f"on average, 18 reps). The three matchers fire the same rules on {same}/{total} leads.",
        "",
        "| mode | µs per evaluation (min / median / max) |",
        "|---|---:|",
    ]
    lines += [f"| {labels[name]} | {spread(values)} |" for name, values in r.items()]
    lines += [
        "",
        "Ratios from the same interleaved run (per round; median and range):",
        "",
        "| ratio | value | target |",
        "|---|---:|---:|",
        f"| wrapper: full evaluation / raw loop (delete session) | {ratio(r, 'full', 'step')} "
        "| ≤ 1.25x |",
        f"| wrapper: full evaluation / raw loop (reused session) "
        f"| {ratio(r, 'full', 'step_reuse')} | |",
        f"| raw loop: reused session / delete session | {ratio(r, 'step_reuse', 'step')} | |",
        f"| full evaluation: reused session / fresh sessions | {ratio(r, 'full', 'full_fresh')} "
        "| |",
        f"| wrapper with the model: `evaluate` / raw loop | {ratio(r, 'full_model', 'step')} | |",
        f"| business-rules full / leadgate full | {ratio(r, 'business', 'full')} | ≥ 5x |",
        f"| business-rules step / raw loop | {ratio(r, 'business_step', 'step')} | |",
        f"| why-not on demand / full evaluation | {ratio(r, 'whynot', 'full')} | |",
    ]
    lines += [
        "",
        f"Memory: RSS over {args.memory_evals:,} evaluations (one evaluator, full outcome):",
        "",
        "| evaluations | RSS MB |",
        "|---:|---:|",
    ]
    lines += [f"| {n:,} | {mb:.1f} |" for n, mb in samples]
    lines.append("")
    lines.append(
        f"Peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f} MB; "
        f"growth after warm-up {samples[-1][1] - samples[1][1]:+.1f} MB."
    )
    sizes = [int(x) for x in args.sizes.split(",") if x]
    if sizes:
        lines += sizes_section(sizes, leads[:300], args.seconds, args.rounds)
    load = f"Load average (1, 5, 15 min) at the start: {load_before}; at the end: {_load()}."
    lines += ["", load]
    report = "\n".join(lines) + "\n"
    print(report)
    if args.write:
        _write_section(args.write, report)
    if same != total:
        print(f"error: the matchers disagree on {total - same} leads", file=sys.stderr)
        return 1
    return 0


def _load() -> str:
    """The machine's load average (what `uptime` prints): the context for every figure."""
    try:
        return ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def _write_section(path: Path, section: str) -> None:
    text = path.read_text("utf-8") if path.exists() else "# Benchmarks\n"
    start = text.find("## Rule engine")
    if start == -1:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + 1)
        text = text[:start] + section + ("\n" + text[end + 1 :] if end != -1 else "")
    path.write_text(text, "utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
