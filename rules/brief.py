"""A brief result: what a simulation counts of an evaluation, without the rest.

A simulation evaluates every lead twice (active version and candidate) and keeps only fired
names, score values, the stage outcome and the routed rep of each (api/simulation.py). Sending
the full result back from the worker and validating it into an :class:`EvaluationResult` cost
most of the parent's time per lead; the worker shapes the result down (:func:`shape`, plain
tuples: small to pickle) and the parent makes these small objects of it (:func:`decode`),
trusting its own worker's output. Leads shown in full (samples) are evaluated again in full.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rules import errors
from rules.errors import RulesError
from rules.models import RepShare


@dataclass(frozen=True, slots=True)
class BriefStage:
    """The fields of :class:`rules.models.StageOutcome`."""

    from_stage: str
    to_stage: str | None
    rule: str | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class BriefRouting:
    """The pick of :class:`rules.models.RoutingOutcome`. No ledger rows: routing state only
    moves on for leads the bulk path evaluates again in full (``api.bulk.route_batch``)."""

    route: str | None
    rep_id: str | None
    shares: tuple[RepShare, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class BriefResult:
    """The parts of an :class:`rules.models.EvaluationResult` a simulation reads, with the same
    attribute names (``stage``, ``routing``, ``fired_names``); scores as plain values."""

    rulebook_version: str
    fired_names: list[str]
    score_values: dict[str, float]
    stage: BriefStage
    routing: BriefRouting


BriefOutcome = BriefResult | RulesError


def shape(decided: dict[str, Any]) -> tuple[Any, ...]:
    """Worker side: ``Evaluator.decide``'s data cut to a :class:`BriefResult`'s fields."""
    stage = decided["stage"]
    routing = decided["routing"]
    return (
        decided["rulebook_version"],
        [f["name"] for f in decided["fired"]],
        {name: float(s["value"]) for name, s in decided["scores"].items()},
        (stage["from_stage"], stage["to_stage"], stage.get("rule"), stage.get("reason")),
        (routing["route"], routing["rep_id"]),
    )


def decode(item: Any) -> BriefOutcome:
    """Parent side: the worker's tuple (or its ``("error", type, message)``) as an outcome."""
    if item[0] == "error" and len(item) == 3:
        error_type = getattr(errors, item[1], errors.EngineError)
        error: RulesError = error_type(item[2])
        return error
    version, fired, scores, stage, routing = item
    return BriefResult(version, fired, scores, BriefStage(*stage), BriefRouting(*routing))
