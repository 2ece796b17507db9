"""The rules package has no import cycles (loader ↔ validator was one) and small modules."""

from __future__ import annotations

import ast
from pathlib import Path

import rules

PACKAGE = Path(rules.__file__).parent


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.glob("*.py"):
        name = path.stem
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.module.startswith("rules."):
                    deps.add(node.module.split(".")[1])
                elif node.module == "rules":
                    deps.update(a.name for a in node.names)
        graph[name] = {d for d in deps if (PACKAGE / f"{d}.py").exists()} - {name}
    return graph


def test_no_import_cycle_in_rules() -> None:
    graph = _graph()
    graph.pop("__init__", None)
    done: set[str] = set()

    def visit(node: str, stack: list[str]) -> None:
        assert node not in stack, " → ".join([*stack[stack.index(node) :], node])
        if node in done:
            return
        for dep in sorted(graph.get(node, ())):
            visit(dep, [*stack, node])
        done.add(node)

    for name in sorted(graph):
        visit(name, [])


def test_loader_and_validator_stay_small() -> None:
    for name in ("loader", "validator"):
        lines = (PACKAGE / f"{name}.py").read_text("utf-8").count("\n")
        assert lines < 400, f"rules/{name}.py has {lines} lines"
