"""The service's handle on the active rulebook and the supervised engine pool evaluating it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from os import cpu_count as _cpu_count
from pathlib import Path

from api.enums import LifecycleStage
from api.errors import InvalidInput
from api.evaluations import Explainers
from api.rulebook_store import check_stages
from rules import (
    EnginePool,
    EvaluationInput,
    EvaluationResult,
    FeedbackEvent,
    Rulebook,
    RulesError,
    TargetingAdjustment,
    WhyNot,
    load_rulebook,
)


def cpu_count() -> int:
    """Engine workers by default: one per core (the C extension holds the GIL)."""
    return _cpu_count() or 1


@dataclass(frozen=True, slots=True)
class Focus:
    """What explanations are about, and the replayers that compute them on demand."""

    stage: str
    rules: frozenset[str]
    explainers: Explainers


class RulesEngine:
    """One rulebook version plus the worker processes that evaluate it."""

    def __init__(
        self,
        rulebook: Rulebook,
        *,
        workers: int | None = None,
        timeout_s: float = 5.0,
        pool: EnginePool | None = None,
    ) -> None:
        check_stages(rulebook)
        self.rulebook = rulebook
        self.explainers = Explainers()
        self.explainers.add(WhyNot(rulebook))
        self.pool = pool or EnginePool(rulebook, workers=workers or cpu_count(), timeout=timeout_s)

    def with_rulebook(self, rulebook: Rulebook) -> RulesEngine:
        """Another version on the same worker processes: a live swap starts no process, and
        work holding this engine keeps evaluating with this engine's version."""
        return RulesEngine(rulebook, pool=self.pool)

    @classmethod
    def from_dir(
        cls, path: Path, *, workers: int | None = None, timeout_s: float = 5.0
    ) -> RulesEngine:
        return cls(load_rulebook(path), workers=workers, timeout_s=timeout_s)

    @property
    def version(self) -> str:
        return self.rulebook.version

    @property
    def lookback_days(self) -> float:
        return self.rulebook.lookback_days

    @property
    def handoff_stage(self) -> str:
        return self.rulebook.stages.handoff or LifecycleStage.MQL.value

    @property
    def focus(self) -> Focus:
        """The stage explanations are about (the handoff stage) and the rules that lead there."""
        stage = self.handoff_stage
        rules = frozenset(t.name for t in self.rulebook.transitions if t.to == stage)
        return Focus(stage=stage, rules=rules, explainers=self.explainers)

    @property
    def feedback_window_days(self) -> float:
        return max([r.within_days for r in self.rulebook.feedback] + [0.0])

    async def evaluate(
        self, fact_input: EvaluationInput, *, explain: bool = True
    ) -> EvaluationResult:
        return await self.pool.evaluate(fact_input, explain=explain, rulebook=self.rulebook)

    async def evaluate_batch(
        self, inputs: list[EvaluationInput]
    ) -> list[EvaluationResult | RulesError]:
        """Many leads, one worker round trip per worker (all cores); each lead gets its result
        or the typed error it alone caused. No "why not": records replay it on demand."""
        return await self.pool.evaluate_batch(inputs, explain=False, rulebook=self.rulebook)

    async def evaluate_feedback(
        self, events: list[FeedbackEvent], now: datetime
    ) -> list[TargetingAdjustment]:
        return await self.pool.evaluate_feedback(events, now, self.rulebook)

    def check_reason(self, kind: str, reason: str, *, field: str = "reason") -> None:
        codes = self.rulebook.reason_codes(kind)
        if reason not in codes:
            raise InvalidInput(
                f"unknown {kind} reason {reason!r}",
                field=field,
                suggestion=f"one of: {', '.join(codes)}" if codes else "the rulebook defines none",
            )

    async def close(self) -> None:
        """Stop the worker processes (shared by every engine made ``with_rulebook``)."""
        await self.pool.aclose()
