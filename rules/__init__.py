"""Leadgate's rule language and engine: rule files, validation, durable_rules evaluation.

Pure: no database, no HTTP. What the service calls:

- :func:`load_rulebook` / :func:`load_rulebook_files` / :func:`check_rulebook` — load and
  validate a rulebook (folder or stored file contents); errors are :class:`RuleFileError`.
- :class:`EnginePool` — supervised worker processes: ``await pool.evaluate(EvaluationInput)``
  → :class:`EvaluationResult`; ``await pool.evaluate_feedback(events, now)``.
- :class:`Evaluator` — in-process evaluation (CLI, benchmark, tests).
- :class:`WhyNot` — failed conditions on demand, replaying a stored input (no engine).
- :func:`evaluate_feedback` — feedback events → :class:`TargetingAdjustment` list.
"""

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
