"""Engine results from plain data without validating them again (the batch path's boundary).

A batch worker sends each lead's result as the plain data ``Evaluator.decide`` builds (our own
code, in our own worker): validating it once more in the parent cost as much as half an
evaluation. Here the models are built with ``model_construct``; the only conversion validation
would have made, ints into float fields (``hours: 4`` from YAML), is made here too, so that the
models, their JSON and the decision digests equal what ``EvaluationResult.model_validate`` gives
(test ``tests/rules/test_plain.py``).
"""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel

from rules.models import (
    EvaluationResult,
    FiredRule,
    RepShare,
    RoutingOutcome,
    ScoreContribution,
    ScoreValue,
    SlaOutcome,
    StageOutcome,
)

M = TypeVar("M", bound=BaseModel)


def _is_float(annotation: Any) -> bool:
    if annotation is float:
        return True
    if get_origin(annotation) in (Union, types.UnionType):
        return float in get_args(annotation)
    return False


def _builder(cls: type[M]) -> Callable[[Mapping[str, Any]], M]:
    """``cls.model_construct`` from the keys of ``data`` that are fields, floats made floats."""
    floats = frozenset(n for n, f in cls.model_fields.items() if _is_float(f.annotation))
    names = tuple(cls.model_fields)

    def build(data: Mapping[str, Any]) -> M:
        values = {n: data[n] for n in names if n in data}
        for name in floats & values.keys():
            value = values[name]
            if value is not None and not isinstance(value, float):
                values[name] = float(value)
        return cls.model_construct(**values)

    return build


_fired = _builder(FiredRule)
_contribution = _builder(ScoreContribution)
_score = _builder(ScoreValue)
_stage = _builder(StageOutcome)
_routing = _builder(RoutingOutcome)
_sla = _builder(SlaOutcome)
_result = _builder(EvaluationResult)


def _share(share: Any) -> RepShare:
    return share if isinstance(share, RepShare) else RepShare.model_validate(share)


def result_from_plain(data: Mapping[str, Any]) -> EvaluationResult:
    """The :class:`EvaluationResult` of ``Evaluator.decide``'s plain data. Results with "why
    not" (not on the batch path) are validated in full."""
    if isinstance(data, EvaluationResult):
        return data
    if data.get("not_fired"):
        return EvaluationResult.model_validate(data)
    routing = dict(data["routing"])
    routing["shares"] = [_share(s) for s in routing.get("shares", ())]
    sla = data.get("sla")
    return _result(
        {
            **data,
            "fired": [_fired(f) for f in data["fired"]],
            "contributions": [_contribution(c) for c in data["contributions"]],
            "scores": {name: _score(s) for name, s in data["scores"].items()},
            "stage": _stage(data["stage"]),
            "routing": _routing(routing),
            "sla": _sla(sla) if sla is not None else None,
            "not_fired": [],
        }
    )
