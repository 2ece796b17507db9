"""A `leadgate` start imports only what its command needs: the CLI tests start it ~95 times and
each start used to import the models, the engine, strawberry and durable_rules (~1 s of CPU)."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = (
    "tortoise.models",
    "api.models",
    "api.engine",
    "api.bulk",
    "api.simulation",
    "api.logs",
    "strawberry",
    "schema.root",
    "durable_rules_engine",
    "rules.evaluator",
    "rules.pool",
    "structlog",
)


def _imported(code: str) -> set[str]:
    """The modules a fresh interpreter holds after ``code``."""
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys\nprint('\\n'.join(sys.modules))"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    return set(out.split())


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.startswith(HEAVY))


def test_the_cli_module_imports_no_heavy_module() -> None:
    assert _heavy(_imported("import api.cli")) == []


@pytest.mark.parametrize(
    ("argv", "allowed"),
    [
        (["--help"], ()),
        (["rules", "check"], ()),
        (["rules", "simulate", "--help"], HEAVY),  # mounted on first use: imports its own
    ],
)
def test_a_command_imports_what_it_needs(argv: list[str], allowed: tuple[str, ...]) -> None:
    run = f"import sys\nsys.argv = ['leadgate', *{argv!r}]\nfrom api.cli import app\n"
    run += "try:\n    app()\nexcept SystemExit:\n    pass"
    modules = _imported(run)
    assert "api.cli" in modules
    assert [m for m in _heavy(modules) if not m.startswith(allowed)] == []
    if argv[:2] == ["rules", "simulate"]:
        assert "api.cli_simulate" in modules
    else:
        assert "api.cli_simulate" not in modules
        assert "api.cli_shadow" not in modules


def test_the_rules_package_imports_its_names_on_first_use() -> None:
    modules = _imported("import rules\nimport rules.loader")
    assert "rules.evaluator" not in modules
    assert "durable_rules_engine" not in modules
    names = _imported(
        "import rules\nassert all(getattr(rules, n) is not None for n in rules.__all__)"
    )
    assert "rules.evaluator" in names
