"""The reused engine session (rules/session.py): every outcome equals a fresh session's, and any
doubt (an unclean session, an error) starts a fresh one."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import durable_rules_engine as dre
import pytest

from rules import EngineError, EvaluationInput, Evaluator, Rulebook, load_rulebook_files
from rules.compiler import CATCH_ALL_1, CATCH_ALLS
from rules.engine import EngineRuleset, state_facts
from rules.synthetic import synthetic_rulebook
from tests.rules.conftest import NOW, lead_input

KINDS = [
    "page_view",
    "email_open",
    "email_click",
    "content_download",
    "pricing_page_view",
    "form_submit",
    "webinar_attended",
    "demo_request",
    "trial_signup",
    "meeting_booked",
]
TITLES = ["VP Sales", "Chief Revenue Officer", "Graduate Student", "Engineer", "Head of Growth"]


def leads(n: int, seed: int) -> list[EvaluationInput]:
    """Varied leads, among them ones that fire nothing but the fallback and ones that fire
    dozens of rules (many activities of every type), in an order that mixes them."""
    rng = random.Random(seed)
    out = [lead_input()]
    for i in range(n):
        many = rng.random() < 0.2
        count = rng.randrange(60, 200) if many else rng.randrange(0, 12)
        inp = EvaluationInput.model_validate(
            {
                "lead": {
                    "email": f"p{i}@{rng.choice(['gmail.com', 'hubspot.com', f'c{i}.com'])}",
                    "title": rng.choice(TITLES),
                    "seniority": rng.choice(["c_level", "vp", "director", "manager", "ic"]),
                    "department": rng.choice(["sales", "marketing", "it"]),
                    "country": rng.choice(["US", "GB", "DE", "IR", "JP"]),
                    "stage": rng.choice(["new", "engaged", "recycled"]),
                },
                "account": {
                    "employee_count": int(rng.lognormvariate(5, 1.6)),
                    "industry": rng.choice(["software", "fintech", "retail"]),
                },
                "activities": [
                    {
                        "type": rng.choice(KINDS),
                        "occurred_at": NOW - timedelta(days=rng.uniform(0, 90)),
                    }
                    for _ in range(count)
                ],
                "now": NOW,
            }
        )
        out.append(inp)
        if i % 17 == 0:
            out.append(lead_input())  # nothing fires between busy leads
    return out


def outcome(ev: Evaluator, inp: EvaluationInput) -> dict[str, Any]:
    result = ev.decide(inp, explain=True)
    del result["duration_ms"]
    return result


def assert_fresh(ev: Evaluator) -> None:
    """No fact left in any of the evaluator's engine sessions but the engine's own state fact
    (the catch-all matched it when the session was created)."""
    sid = ev.sessions.sid
    assert sid is not None
    for ruleset in ev.rulesets:
        assert dre.get_facts(ruleset.handle, sid) == state_facts(sid)
        assert dre.start_action_for_state(ruleset.handle, ruleset.state) is None


@pytest.fixture(scope="module")
def book_300() -> Rulebook:
    return load_rulebook_files(synthetic_rulebook(300))


@pytest.fixture
def pair(request: pytest.FixtureRequest) -> Iterator[tuple[Evaluator, Evaluator]]:
    book = request.getfixturevalue(request.param)
    with Evaluator(book) as reused, Evaluator(book, reuse_sessions=False) as fresh:
        yield reused, fresh


@pytest.mark.parametrize("pair", ["demo_book", "book_300"], indirect=True)
def test_reused_session_equals_fresh_sessions(pair: tuple[Evaluator, Evaluator]) -> None:
    reused, fresh = pair
    fired = []
    sid = None
    for inp in leads(120, seed=3):
        expected = outcome(fresh, inp)
        got = outcome(reused, inp)
        for field, value in expected.items():
            assert got[field] == value, field
        assert_fresh(reused)
        sid = sid or reused.sessions.sid
        assert reused.sessions.sid == sid  # really reused: one session for all the leads
        fired.append(len(got["fired"]))
    assert fresh.sessions.sid is None  # deleted after every lead
    assert (reused.sessions.discarded, reused.sessions.leaked) == (0, 0)
    assert min(fired) <= 1  # the fallback route only
    assert max(fired) >= 15


STUDENT = {"title": "Graduate Student", "stage": "new"}


@pytest.mark.parametrize(
    "keep",
    [
        pytest.param(lambda texts: texts[:-1], id="an activity left"),
        pytest.param(lambda texts: texts[2:], id="subjects left, a $not pending"),
    ],
)
def test_unclean_session_is_deleted_not_reused(
    evaluator: Evaluator, monkeypatch: pytest.MonkeyPatch, keep: Any
) -> None:
    """A session that is not like a fresh one after retraction is deleted, and the next lead
    starts in a fresh one. Simulated by retracting too little: a fact stays, or the subjects
    stay and retracting the demo request fires the `$not` of dq_student (a pending action)."""
    inp = lead_input(lead=STUDENT, activities=[("demo_request", 2)])
    with Evaluator(evaluator.book, reuse_sessions=False) as fresh:
        expected = outcome(fresh, inp)
    sessions = evaluator.sessions
    finish = sessions.finish
    monkeypatch.setattr(sessions, "finish", lambda asserted: finish([keep(a) for a in asserted]))
    discarded = sessions.discarded
    assert outcome(evaluator, inp) == expected
    assert sessions.discarded == discarded + 1
    assert sessions.sid is None
    monkeypatch.undo()
    assert outcome(evaluator, inp) == expected
    assert_fresh(evaluator)


def test_error_outside_the_engine_deletes_the_session(
    evaluator: Evaluator, monkeypatch: pytest.MonkeyPatch
) -> None:
    evaluator.evaluate(lead_input())
    sid = evaluator.sessions.sid
    inp = lead_input(lead=STUDENT, activities=[("page_view", 1)] * 5)

    def boom(*_: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(evaluator, "_contributions", boom)
    with pytest.raises(RuntimeError):
        evaluator.evaluate(inp)
    assert evaluator.sessions.sid is None
    for ruleset in evaluator.rulesets:  # deleted, not leaked
        with pytest.raises(EngineError, match="309"):
            ruleset.delete(str(sid))
    monkeypatch.undo()
    with Evaluator(evaluator.book, reuse_sessions=False) as fresh:
        assert outcome(evaluator, inp) == outcome(fresh, inp)
    assert evaluator.sessions.sid != sid


def test_engine_error_in_retraction_leaks_and_raises(
    evaluator: Evaluator, monkeypatch: pytest.MonkeyPatch
) -> None:
    evaluator.evaluate(lead_input())
    leaked = evaluator.leaked_sessions

    def fail(_: str) -> None:
        raise EngineError("durable_rules retract_facts failed: error code: 1")

    monkeypatch.setattr(evaluator.rulesets[0], "retract_facts", fail)
    with pytest.raises(EngineError):
        evaluator.evaluate(lead_input())
    assert evaluator.leaked_sessions == leaked + 1
    assert evaluator.sessions.sid is None
    monkeypatch.undo()
    assert evaluator.evaluate(lead_input()).fired_names == ["route_global_fallback"]


def test_close_deletes_the_reused_session(
    book_300: Rulebook, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``delete_ruleset`` does not free a ruleset's sessions: closing an evaluator (an old
    rulebook version in a worker) deletes its session first, in every engine ruleset."""
    ev = Evaluator(book_300)
    ev.evaluate(lead_input())
    sid = ev.sessions.sid
    deleted: list[str] = []
    for ruleset in ev.rulesets:

        def delete(sid: str, original: Any = ruleset.delete) -> None:
            deleted.append(sid)
            original(sid)

        monkeypatch.setattr(ruleset, "delete", delete)
    ev.close()
    assert deleted == [sid] * len(ev.rulesets)
    assert len(ev.rulesets) > 1


def test_catch_all_runs_once_per_session_not_per_lead() -> None:
    """The catch-all matches the engine's state fact: an action runs in every new session, even
    when nothing else matches (so ``delete_state`` is safe), and never again in that session."""
    ruleset = EngineRuleset(
        "leadgate_test_catch_all", {"r": {"all": [{"m": {"k": "x"}}]}, **CATCH_ALLS}
    )
    try:
        for _ in range(3):  # fresh sessions: the catch-all fires in each, then delete is safe
            sid = ruleset.new_sid()
            fired = ruleset.assert_facts(f'[{{"k":"s1","id":-2,"sid":"{sid}"}}]')
            assert [name for name, _ in fired] == [CATCH_ALL_1]
            ruleset.delete(sid)
        sid = ruleset.new_sid()
        for i in range(3):  # one reused session: only the first lead sees it
            fired = ruleset.assert_facts(f'[{{"k":"x","id":-2,"sid":"{sid}"}}]')
            assert [name for name, _ in fired] == (["r", CATCH_ALL_1] if i == 0 else ["r"])
            ruleset.retract_facts(f'[{{"id":-2,"sid":"{sid}"}}]')
            assert ruleset.is_clean(sid)
        ruleset.assert_facts(f'[{{"k":"x","id":7,"sid":"{sid}"}}]')
        assert not ruleset.is_clean(sid)  # a fact left besides the state fact
        ruleset.delete(sid)
    finally:
        ruleset.close()


def test_fresh_session_per_lead_is_deleted_safely(demo_book: Rulebook) -> None:
    """A fresh session per lead, deleted after it (its one catch-all action ran at its first
    assert): the same outcomes as the reused session, nothing leaked or discarded."""
    with Evaluator(demo_book, reuse_sessions=False) as fresh, Evaluator(demo_book) as reused:
        for inp in leads(30, seed=11):
            assert outcome(fresh, inp) == outcome(reused, inp)
        assert fresh.sessions.sid is None
        assert (fresh.sessions.discarded, fresh.sessions.leaked) == (0, 0)
