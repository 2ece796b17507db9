"""Rulebooks for lifecycle tests: the demo, with one threshold changed or one error added."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from api.settings import DEMO_RULES_DIR
from rules.builder import Builder

ENGAGEMENT_GATE = "- {field: scores.engagement, gte: 30}"
FIT_GATE = "- {field: scores.fit, gte: 50}"


def demo_files(
    *,
    engagement: int = 30,
    fit: int = 50,
    typo: bool = False,
    competitors: tuple[str, ...] = (),
) -> dict[str, str]:
    """The demo rulebook's files; ``engagement`` and ``fit`` are the gates of the rule
    mql_fit_and_engagement; ``competitors`` are email domains that dq_competitor adds.

    Without the territory working hours, like the test app's rulebook (tests/conftest.py):
    these tests run at the real time of day, which must not decide who gets a lead."""
    files = {
        p.name: p.read_text("utf-8")
        for p in sorted(DEMO_RULES_DIR.glob("*.yaml"))
        if p.name != "working_time.yaml"
    }
    lifecycle = files["lifecycle.yaml"]
    assert ENGAGEMENT_GATE in lifecycle
    lifecycle = lifecycle.replace(
        ENGAGEMENT_GATE, f"- {{field: scores.engagement, gte: {engagement}}}"
    ).replace(FIT_GATE, f"- {{field: scores.fit, gte: {fit}}}", 1)
    if competitors:
        assert lifecycle.count("pardot.com]") == 1
        lifecycle = lifecycle.replace("pardot.com]", f"pardot.com, {', '.join(competitors)}]")
    if typo:
        lifecycle = lifecycle.replace("    to: mql\n", "    to: mqlx\n", 1)
    files["lifecycle.yaml"] = lifecycle
    return files


def write_rulebook(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def typo_line() -> int:
    """1-based line of the rule that gets the typo (errors point at the rule)."""
    lines = demo_files()["lifecycle.yaml"].splitlines()
    return next(i for i, line in enumerate(lines, 1) if "name: mql_fit_and_engagement" in line)


def count_yaml_parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The rule files this process parses from now on (a stored version should need none)."""
    parsed: list[str] = []
    add_file = Builder.add_file

    def spy(self: Builder, rel: str, data: bytes) -> None:
        parsed.append(rel)
        add_file(self, rel, data)

    monkeypatch.setattr(Builder, "add_file", spy)
    return parsed


def parsing_threads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The thread of every rule file parsed from now on: the event loop's must not appear."""
    threads: list[int] = []
    add_file = Builder.add_file

    def spy(self: Builder, rel: str, data: bytes) -> None:
        threads.append(threading.get_ident())
        add_file(self, rel, data)

    monkeypatch.setattr(Builder, "add_file", spy)
    return threads
