"""One exception hierarchy for rules/, rooted at :class:`RulesError`.

The service wraps these in its own error types; nothing here depends on api/.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RuleFileError:
    """One located problem in a rule file, printable as ``file:line:col: rule: message``."""

    file: str
    line: int
    """1-based line."""
    column: int
    """1-based column."""
    rule: str | None
    message: str
    suggestion: str | None = None

    def __str__(self) -> str:
        rule = f"{self.rule}: " if self.rule else ""
        hint = f" ({self.suggestion})" if self.suggestion else ""
        return f"{self.file}:{self.line}:{self.column}: {rule}{self.message}{hint}"


class RulesError(Exception):
    """Base of every error raised by rules/."""


class RulebookInvalid(RulesError):
    """The rulebook failed schema or semantic validation; ``errors`` says where and why."""

    def __init__(self, errors: list[RuleFileError]) -> None:
        self.errors = errors
        first = str(errors[0]) if errors else "no details"
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(f"invalid rulebook: {first}{more}")


class RulebookNotFound(RulesError):
    """The rulebook folder does not exist or holds no YAML files."""


class InvalidInput(RulesError):
    """An evaluation input does not fit the rulebook (e.g. unknown stage)."""


class EngineError(RulesError):
    """durable_rules failed while evaluating one lead."""


class EngineCrashed(EngineError):
    """The worker process running the engine died (segfault, os._exit); it was replaced."""


class EngineTimeout(EngineError):
    """The evaluation exceeded its time limit; the worker was killed and replaced."""


class PoolClosed(RulesError):
    """The engine pool was closed before or during the evaluation."""
