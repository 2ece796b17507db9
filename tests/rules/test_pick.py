"""The pick inside a pool (rules/pick.py): weights, catch-up after absence, explanation."""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from rules import RepData, check_rulebook, load_rulebook
from rules.pick import Policy, pick, share_of
from tests.rules.conftest import DEMO

MONDAY = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def rep(rep_id: str, email: str, **kw: object) -> RepData:
    return RepData.model_validate(
        {"rep_id": rep_id, "email": email, "territory": "NA", "capacity": 10_000, **kw}
    )


def run(
    reps: list[RepData],
    n: int,
    policy: Policy,
    *,
    away: Callable[[int], set[str]] = lambda i: set(),
    start: datetime = MONDAY,
    step: timedelta = timedelta(minutes=1),
) -> tuple[list[RepData], list[str]]:
    """Route ``n`` leads one after the other, carrying the ledger like RepBook does."""
    picks = []
    for i in range(n):
        now = start + step * i
        gone = away(i)
        eligible = [r for r in reps if r.rep_id not in gone]
        absent = [r for r in reps if r.rep_id in gone]
        chosen = pick(route="r", eligible=eligible, absent=absent, policy=policy, now=now)
        picks.append(chosen.rep_id)
        by_id = {s.rep_id: s.share for s in chosen.shares}
        reps = [
            r.model_copy(
                update={
                    "shares": [by_id[r.rep_id]] if r.rep_id in by_id else r.shares,
                    "last_assigned_at": now if r.rep_id == chosen.rep_id else r.last_assigned_at,
                }
            )
            for r in reps
        ]
    return reps, picks


def test_a_70_30_pool_stays_within_one_lead_of_its_weights() -> None:
    policy = Policy(weights={"blake@x.io": 0.7, "avery@x.io": 0.3})
    reps = [rep("1", "avery@x.io"), rep("2", "blake@x.io")]
    _, picks = run(reps, 1000, policy)
    counts = Counter(picks)
    assert counts == {"2": 700, "1": 300}
    for n in range(1, 1000):  # at every point, not only at the end
        assert abs(Counter(picks[:n])["2"] - 0.7 * n) <= 1


def test_equal_weights_are_round_robin_by_oldest_assignment() -> None:
    reps = [
        rep("1", "a@x.io", last_assigned_at=MONDAY - timedelta(hours=1)),
        rep("2", "b@x.io", last_assigned_at=MONDAY - timedelta(hours=3)),
        rep("3", "c@x.io"),  # never assigned: first
    ]
    _, picks = run(reps, 6, Policy(weights={}))
    assert picks == ["3", "2", "1", "3", "2", "1"]


def test_reps_not_listed_in_the_weights_only_get_leads_when_no_weighted_rep_is_free() -> None:
    policy = Policy(weights={"a@x.io": 1})
    reps = [rep("1", "a@x.io"), rep("2", "b@x.io")]
    _, picks = run(reps, 10, policy, away=lambda i: {"1"} if i >= 8 else set())
    assert picks == ["1"] * 8 + ["2", "2"]


def test_catch_up_none_does_not_flood_a_rep_on_return() -> None:
    policy = Policy(weights={})
    reps = [rep("1", "a@x.io"), rep("2", "b@x.io")]
    # rep 2 is away for the first 100 leads, then both are back for 20
    reps, picks = run(reps, 120, policy, away=lambda i: {"2"} if i < 100 else set())
    assert Counter(picks[100:]) == {"1": 10, "2": 10}
    share = share_of(reps[1], "r", MONDAY.date())
    assert share.owed == 0
    assert share.assigned == 10


def test_catch_up_cap_repays_at_most_n_extra_leads_a_day() -> None:
    policy = Policy(weights={}, catch_up_per_day=3)
    reps = [rep("1", "a@x.io"), rep("2", "b@x.io")]
    hour = timedelta(hours=1)
    # 40 leads on Monday with rep 2 away (owed 20), then 10 a day from Tuesday on
    reps, picks = run(reps, 40, policy, away=lambda i: {"2"}, step=timedelta(minutes=10))
    assert share_of(reps[1], "r", MONDAY.date()).owed == pytest.approx(20)
    for day, owed in ((1, 17), (2, 14)):
        reps, picks = run(reps, 10, policy, start=MONDAY + timedelta(days=day), step=hour)
        # 3 leads repay the absence, the other 7 are shared as usual (3 or 4 each):
        # never the 20 it missed at once
        assert Counter(picks)["2"] in (3 + 3, 3 + 4)
        share = share_of(reps[1], "r", MONDAY.date())
        assert share.owed == pytest.approx(owed)
        assert share.extra_count == 3


def test_the_pick_is_explained() -> None:
    policy = Policy(weights={"blake@x.io": 0.7, "avery@x.io": 0.3})
    reps = [rep("1", "avery@x.io"), rep("2", "blake@x.io"), rep("3", "casey@x.io")]
    reps, _ = run(reps, 10, policy, away=lambda i: {"3"})
    chosen = pick(route="r", eligible=reps[:2], absent=reps[2:], policy=policy, now=MONDAY)
    assert chosen.rep_id == "2"
    assert chosen.why.startswith(
        "route r: 2 eligible rep(s), picked blake@x.io: weight 0.7, 0 below share this week "
        "(7 of 7)"
    )
    assert "avery@x.io: weight 0.3" in chosen.why
    assert "not eligible now: casey@x.io (catch-up none" in chosen.why


def test_a_new_week_starts_a_new_ledger() -> None:
    policy = Policy(weights={})
    reps = [rep("1", "a@x.io"), rep("2", "b@x.io")]
    reps, _ = run(reps, 3, policy)
    later = pick(route="r", eligible=reps, absent=[], policy=policy, now=MONDAY + timedelta(days=7))
    assert [s.share.period for s in later.shares] == [(MONDAY + timedelta(days=7)).date()] * 2
    assert sum(s.share.assigned for s in later.shares) == 1


def _demo_with(tmp_path: Path, old: str, new: str, file: str) -> Path:
    shutil.copytree(DEMO, tmp_path / "book")
    path = tmp_path / "book" / file
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    return tmp_path / "book"


def test_the_demo_rulebook_carries_weights_catch_up_and_escalation() -> None:
    book = load_rulebook(DEMO)
    routes = {r.name: r for r in book.routing.routes}
    assert dict(routes["route_na_mid_market"].weights) == {
        "ethan.brooks@northpeak-analytics.example": 0.7,
        "priya.nair@northpeak-analytics.example": 0.3,
    }
    assert routes["route_emea_mid_market"].catch_up_per_day == 2
    escalation = book.sla.escalation["p1"]
    assert (escalation.after_hours, escalation.times, escalation.then_queue) == (
        2.0, 2, "sales_managers"
    )  # fmt: skip


def test_escalation_errors_are_located(tmp_path: Path) -> None:
    book = _demo_with(tmp_path, "    p1: {after:", "    p9: {after:", "sla.yaml")
    [error] = check_rulebook(book)
    assert error.message == "escalation for unknown priority `p9`"
    assert (error.file, error.line) == ("sla.yaml", 14)
    book = _demo_with(tmp_path / "b", "then: {queue: sales_managers}", "then: {}", "sla.yaml")
    errors = check_rulebook(book)
    assert errors
    assert errors[0].file == "sla.yaml"
    assert errors[0].line == 14


def test_weights_and_catch_up_are_checked(tmp_path: Path) -> None:
    book = _demo_with(tmp_path, "catch_up: {per_day: 2}", "catch_up: {per_day: 0}", "routing.yaml")
    [error] = check_rulebook(book)
    assert error.file == "routing.yaml"
    assert error.rule == "route_emea_mid_market"
    book = _demo_with(tmp_path / "b", ".example: 0.3}", ".example: -1}", "routing.yaml")
    [error] = check_rulebook(book)
    assert error.rule == "route_na_mid_market"
