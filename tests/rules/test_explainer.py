"""The explainer: failed conditions with actual vs required, and agreement with the engine."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules import EvaluationInput, Evaluator, load_rulebook_files
from rules.compiler import fact_field, number
from rules.explainer import holds
from rules.facts import build_facts
from tests.rules.conftest import NOW, lead_input

ACTIVITY_TYPES = [
    "page_view",
    "email_open",
    "email_click",
    "form_submit",
    "content_download",
    "webinar_attended",
    "demo_request",
    "trial_signup",
    "meeting_booked",
    "pricing_page_view",
]
TITLES = [
    "VP Marketing",
    "vice president of sales",
    "Graduate Student",
    "Intern",
    "CMO",
    "Head of Growth",
    "Engineer",
    "Chief Revenue Officer",
    "Director of Demand Generation",
    "Директор",
    "vp 🚀",
    'A "quoted" title',
    "",
]
EMAILS = [
    "ana@acme.io",
    "bob@gmail.com",
    "test.user@corp.com",
    "spy@hubspot.com",
    "noreply@x.org",
    "é@ü.de",
]
COUNTRIES = ["US", "CA", "GB", "DE", "JP", "IR", "BR", "MX", "AU", "xx"]


def _maybe(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), values)


activities = st.lists(
    st.tuples(st.sampled_from(ACTIVITY_TYPES), st.floats(min_value=-1, max_value=120)),
    max_size=30,
)
employee_counts = st.one_of(
    st.sampled_from([0, 4, 5, 19, 20, 199, 200, 999, 1000, 10**9]),
    st.integers(min_value=0, max_value=50_000),
)


@st.composite
def inputs(draw: st.DrawFn) -> EvaluationInput:
    lead: dict[str, Any] = {
        "email": draw(st.sampled_from(EMAILS)),
        "title": draw(_maybe(st.sampled_from(TITLES))),
        "seniority": draw(_maybe(st.sampled_from(["vp", "director", "c_level", "ic"]))),
        "department": draw(_maybe(st.sampled_from(["sales", "marketing", "it", "hr"]))),
        "country": draw(_maybe(st.sampled_from(COUNTRIES))),
        "stage": draw(st.sampled_from(["new", "engaged", "mql", "recycled", "sal"])),
    }
    account: dict[str, Any] = {
        "employee_count": draw(_maybe(employee_counts)),
        "industry": draw(_maybe(st.sampled_from(["software", "retail", "fintech"]))),
        "annual_revenue": draw(_maybe(st.floats(min_value=0, max_value=1e12))),
        "segment": draw(_maybe(st.sampled_from(["smb", "enterprise"]))),
    }
    adjustments = [
        {
            "score": draw(st.sampled_from(["fit", "engagement"])),
            "delta": draw(st.floats(min_value=-30, max_value=30)),
            "scope": "segment",
            "scope_value": draw(st.sampled_from(["smb", "enterprise"])),
            "expires_at": NOW + timedelta(days=draw(st.integers(-5, 30))),
        }
        for _ in range(draw(st.integers(0, 2)))
    ]
    return lead_input(
        lead={k: v for k, v in lead.items() if v is not None},
        account={k: v for k, v in account.items() if v is not None},
        activities=draw(activities),
        adjustments=adjustments,
    )


def _engine_and_explainer_agree(evaluator: Evaluator, inp: EvaluationInput) -> None:
    result = evaluator.evaluate(inp)
    fired = set(result.fired_names)
    explained = {e.rule for e in result.not_fired}
    everything = set(evaluator.compiled.conditions)
    assert fired | explained == everything
    assert not fired & explained
    facts = build_facts(evaluator.book, inp)
    subject = dict(facts.subject)
    for name, score in result.scores.items():
        subject[fact_field(f"scores.{name}")] = number(score.value)
    for name, cond in evaluator.compiled.conditions.items():
        assert holds(cond, subject, facts.activities) == (name in fired), name
    for explanation in result.not_fired:
        assert explanation.failed, explanation.rule


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inp=inputs())
def test_explainer_agrees_with_engine_on_demo(inp: EvaluationInput) -> None:
    _engine_and_explainer_agree(_demo_evaluator(), inp)


_CACHE: dict[str, Evaluator] = {}


def _demo_evaluator() -> Evaluator:
    if "demo" not in _CACHE:
        from rules import load_rulebook
        from tests.rules.conftest import DEMO

        _CACHE["demo"] = Evaluator(load_rulebook(DEMO))
    return _CACHE["demo"]


# --- generated rules: every operator, negation and pattern kind ----------------------------------

LEAVES = [
    "{field: account.employee_count, gte: 200}",
    "{field: account.employee_count, lt: 20}",
    "{field: account.employee_count, eq: 1000}",
    "{field: account.employee_count, ne: 5}",
    "{field: account.annual_revenue, gt: 1000000.5}",
    "{field: account.annual_revenue, lte: 0}",
    "{field: lead.country, in: [US, CA]}",
    "{field: lead.country, not_in: [US, DE]}",
    "{field: lead.country, eq: US}",
    "{field: lead.country, ne: GB}",
    '{field: lead.title, matches: ".*(vp|chief).*", ignore_case: true}',
    '{field: lead.title, matches: "[A-Z].*"}',
    '{field: lead.email, matches: ".*@gmail[.]com"}',
    "{field: lead.title, exists: true}",
    "{field: lead.seniority, missing: true}",
    "{field: adjustments.fit, lt: 0}",
    "{activity: {type: demo_request, within_days: 14}}",
    "{activity: {type: email_open, at_least: 3, within_days: 30}}",
    "{activity: {type: page_view, at_least: 2, within_days: 7}}",
    "{sequence: {first: pricing_page_view, then: demo_request, within_days: 7}}",
]


@st.composite
def conditions(draw: st.DrawFn, depth: int = 0, negated: bool = False) -> str:
    kind = draw(st.sampled_from(["leaf"] * 3 + (["all", "any", "not"] if depth < 3 else [])))
    if kind == "leaf":
        leaves = [x for x in LEAVES if not (negated and "sequence" in x)]
        return draw(st.sampled_from(leaves))
    if kind == "not":
        return "{not: " + draw(conditions(depth + 1, not negated)) + "}"
    items = draw(st.lists(conditions(depth + 1, negated), min_size=1, max_size=3))
    return "{" + kind + ": [" + ", ".join(items) + "]}"


def _rulebook(conds: list[str]) -> bytes:
    lines = [
        "scores:\n  fit: {cap: 100}\n  engagement: {cap: 100}",
        "stages:\n  order: [new, engaged, mql, sal]\n  side: [recycled]\n  initial: new",
        "  manual: [engaged, mql, sal, recycled]",
        "signals:",
    ]
    for i, cond in enumerate(conds):
        lines.append(f"  - name: rule_{i}\n    score: fit\n    points: 1\n    when: {cond}")
    return "\n".join(lines).encode()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    conds=st.lists(conditions(), min_size=1, max_size=6),
    leads=st.lists(inputs(), min_size=1, max_size=5),
)
def test_explainer_agrees_with_engine_on_generated_rules(
    conds: list[str], leads: list[EvaluationInput]
) -> None:
    book = load_rulebook_files({"generated.yaml": _rulebook(conds)})
    with Evaluator(book) as evaluator:
        for inp in leads:
            _engine_and_explainer_agree(evaluator, inp)


def test_failed_conditions_say_actual_vs_required(evaluator: Evaluator) -> None:
    inp = lead_input(
        lead={"title": "Engineer", "country": "US"},
        account={"employee_count": 300, "industry": "software"},
    )
    result = evaluator.evaluate(inp)
    why = {e.rule: [f.message for f in e.failed] for e in result.not_fired}
    assert "fit 33 < 40" in why["mql_demo_request"]
    assert "no demo_request in 30 days" in why["mql_demo_request"]
    assert why["fit_enterprise"] == ["account.employee_count 300 < 1000"]
    assert why["dq_embargoed_country"] == ["lead.country US not in [KP, IR, SY, CU]"]
    assert "lead.seniority is missing (need in [c_level, vp, director])" in why["fit_seniority"]
