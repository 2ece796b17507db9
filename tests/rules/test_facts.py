"""The fact builder's activity filter: which activities are recent (within a window of their
type), which are ahead of ``now``, and their exact ages, whatever the time zones."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from rules import EvaluationInput, Rulebook
from rules.facts import FactBuilder
from tests.rules.conftest import NOW

_MICRO = timedelta(microseconds=1)
WINDOWS = {"page_view": 7 * 86_400_000_000, "demo_request": 30 * 86_400_000_000, "x": 0}
BERLIN = ZoneInfo("Europe/Berlin")
ZONES: list[Any] = [UTC, timezone(timedelta(hours=5, minutes=30)), BERLIN, ZoneInfo("UTC")]


def reference(inp: EvaluationInput, windows: dict[str, int] | None, horizon: int) -> Any:
    """The filter as a plain definition: age = (now - occurred_at) in µs, recent if
    0 ≤ age ≤ window of its type, ahead if age < 0; recent sorted by age (stable)."""
    recent, ahead = [], []
    for act in inp.activities:
        age = (inp.now - act.occurred_at) // _MICRO
        window = horizon if windows is None else windows.get(act.type, -1)
        if 0 <= age <= window:
            recent.append((age, act.type))
        elif age < 0:
            ahead.append((age, act.type))
    return sorted(recent, key=lambda r: r[0]), ahead


def near_edges(rng: random.Random, now: datetime, zone: Any) -> datetime:
    """A time at, just inside or just outside a window edge (or anywhere), in ``zone``."""
    edge = rng.choice([0, *WINDOWS.values(), 90 * 86_400_000_000])
    offset = rng.choice([-1, 0, 1, rng.randrange(-(10**12), 10**12)])
    at = now - timedelta(microseconds=edge + offset)
    return at.astimezone(zone) if zone is not None else at


@pytest.mark.parametrize("windows", [WINDOWS, None], ids=["windows", "lookback"])
def test_recent_and_ahead_are_exact_at_every_edge(
    demo_book: Rulebook, windows: dict[str, int] | None
) -> None:
    """Same tzinfo object as ``now`` (the fast path, skipping by a cut-off time per type),
    other objects and zones, DST zones on both sides (wall-clock arithmetic when the tzinfo is
    shared), and ``now`` changing, repeating and moving between zones (the cut-offs are made
    again for each distinct ``now``)."""
    rng = random.Random(9)
    builder = FactBuilder(demo_book, 90, windows=windows)
    horizon = 90 * 86_400_000_000
    nows = [NOW, NOW, NOW + _MICRO, NOW.astimezone(BERLIN), datetime(2026, 3, 29, 3, tzinfo=BERLIN)]
    nows += [datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=BERLIN), NOW.astimezone(BERLIN)]
    checked = 0
    for round_ in range(40):
        now = nows[round_ % len(nows)]
        acts = []
        for _ in range(rng.randrange(0, 15)):
            zone = rng.choice([None, None, *ZONES])  # None: now's own tzinfo object
            at = near_edges(rng, now, zone)
            acts.append({"type": rng.choice([*WINDOWS, "other"]), "occurred_at": at})
        inp = EvaluationInput.model_validate(
            {"lead": {"email": "a@b.c"}, "activities": acts, "now": now}
        )
        facts = builder.build(inp, "1.1")
        recent, ahead = reference(inp, windows, horizon)
        assert facts.recent == recent
        assert facts.ahead == ahead
        assert len(facts.texts) == len(recent)
        checked += len(acts)
    assert checked > 200
