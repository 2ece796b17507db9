"""Leadgate's rule language and engine: rule files, validation, durable_rules evaluation.

Pure: no database, no HTTP. What the service calls:

- :func:`load_rulebook` / :func:`load_rulebook_files` / :func:`check_rulebook` — load and
  validate a rulebook (folder or stored file contents); errors are :class:`RuleFileError`.
- :class:`EnginePool` — supervised worker processes: ``await pool.evaluate(EvaluationInput)``
  → :class:`EvaluationResult`; ``await pool.evaluate_feedback(events, now)``.
- :class:`Evaluator` — in-process evaluation (CLI, benchmark, tests).
- :class:`WhyNot` — failed conditions on demand, replaying a stored input (no engine).
- :func:`evaluate_feedback` — feedback events → :class:`TargetingAdjustment` list.

Names are imported on first use (PEP 562): ``import rules`` or ``from rules.loader import …``
costs only the modules used, so a ``leadgate`` command does not pay for durable_rules, the
explainer and the worker pool when it only checks a rulebook or reads a setting.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rules.errors import (
        EngineCrashed,
        EngineError,
        EngineTimeout,
        InvalidInput,
        PoolClosed,
        RulebookInvalid,
        RulebookNotFound,
        RuleFileError,
        RulesError,
    )
    from rules.evaluator import Evaluator
    from rules.examples import ExampleOutcome, example_input, run_examples
    from rules.feedback import FeedbackEvaluator, evaluate_feedback
    from rules.loader import (
        check_rulebook,
        content_version,
        load_rulebook,
        load_rulebook_files,
        read_rulebook_files,
        rulebook_schema,
    )
    from rules.models import (
        AbsenceData,
        AccountData,
        ActivityData,
        AdjustmentData,
        EvaluationInput,
        EvaluationResult,
        FailedCondition,
        FeedbackEvent,
        FiredRule,
        LeadData,
        RepData,
        RepShare,
        RoutingOutcome,
        RuleExplanation,
        ScoreContribution,
        ScoreValue,
        ShareData,
        SlaOutcome,
        StageOutcome,
        TargetingAdjustment,
    )
    from rules.pool import EnginePool
    from rules.rulebook import Rulebook
    from rules.whynot import WhyNot

_WHERE: dict[str, str] = {
    "AbsenceData": "rules.models",
    "AccountData": "rules.models",
    "ActivityData": "rules.models",
    "AdjustmentData": "rules.models",
    "EngineCrashed": "rules.errors",
    "EngineError": "rules.errors",
    "EnginePool": "rules.pool",
    "EngineTimeout": "rules.errors",
    "EvaluationInput": "rules.models",
    "EvaluationResult": "rules.models",
    "Evaluator": "rules.evaluator",
    "ExampleOutcome": "rules.examples",
    "FailedCondition": "rules.models",
    "FeedbackEvaluator": "rules.feedback",
    "FeedbackEvent": "rules.models",
    "FiredRule": "rules.models",
    "InvalidInput": "rules.errors",
    "LeadData": "rules.models",
    "PoolClosed": "rules.errors",
    "RepData": "rules.models",
    "RepShare": "rules.models",
    "RoutingOutcome": "rules.models",
    "RuleExplanation": "rules.models",
    "RuleFileError": "rules.errors",
    "Rulebook": "rules.rulebook",
    "RulebookInvalid": "rules.errors",
    "RulebookNotFound": "rules.errors",
    "RulesError": "rules.errors",
    "ScoreContribution": "rules.models",
    "ScoreValue": "rules.models",
    "ShareData": "rules.models",
    "SlaOutcome": "rules.models",
    "StageOutcome": "rules.models",
    "TargetingAdjustment": "rules.models",
    "WhyNot": "rules.whynot",
    "check_rulebook": "rules.loader",
    "content_version": "rules.loader",
    "evaluate_feedback": "rules.feedback",
    "example_input": "rules.examples",
    "load_rulebook": "rules.loader",
    "load_rulebook_files": "rules.loader",
    "read_rulebook_files": "rules.loader",
    "rulebook_schema": "rules.loader",
    "run_examples": "rules.examples",
}


def __getattr__(name: str) -> Any:
    """Import the submodule that defines ``name`` on first use, then keep the name here."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'rules' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])


__all__ = [
    "AbsenceData",
    "AccountData",
    "ActivityData",
    "AdjustmentData",
    "EngineCrashed",
    "EngineError",
    "EnginePool",
    "EngineTimeout",
    "EvaluationInput",
    "EvaluationResult",
    "Evaluator",
    "ExampleOutcome",
    "FailedCondition",
    "FeedbackEvaluator",
    "FeedbackEvent",
    "FiredRule",
    "InvalidInput",
    "LeadData",
    "PoolClosed",
    "RepData",
    "RepShare",
    "RoutingOutcome",
    "RuleExplanation",
    "RuleFileError",
    "Rulebook",
    "RulebookInvalid",
    "RulebookNotFound",
    "RulesError",
    "ScoreContribution",
    "ScoreValue",
    "ShareData",
    "SlaOutcome",
    "StageOutcome",
    "TargetingAdjustment",
    "WhyNot",
    "check_rulebook",
    "content_version",
    "evaluate_feedback",
    "example_input",
    "load_rulebook",
    "load_rulebook_files",
    "read_rulebook_files",
    "rulebook_schema",
    "run_examples",
]
