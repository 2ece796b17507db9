"""Which leads a bulk job (or a simulation) covers: stages, sources, still decaying."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from tortoise.expressions import Q

from api.bulk import SCHEDULED_STAGES
from api.enums import LifecycleStage
from api.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class LeadFilter:
    """Which leads a job re-evaluates (empty: all of them)."""

    stages: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    decaying: bool = False

    def query(self) -> Q:
        q = Q()
        if self.stages:
            q &= Q(stage__in=list(self.stages))
        if self.sources:
            q &= Q(source__in=list(self.sources))
        if self.decaying:
            q &= Q(stage__in=list(SCHEDULED_STAGES), engagement_score__gt=0)
        return q

    def as_json(self) -> dict[str, object]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def parse(
        cls,
        *,
        stages: Sequence[str] = (),
        sources: Sequence[str] = (),
        decaying: bool = False,
        field: str = "filter",
    ) -> LeadFilter:
        known = {s.value for s in LifecycleStage}
        for stage in stages:
            if stage not in known:
                raise InvalidInput(
                    f"unknown stage {stage!r}",
                    field=f"{field}.stages",
                    suggestion=f"one of: {', '.join(sorted(known))}",
                )
        return cls(stages=tuple(stages), sources=tuple(sources), decaying=decaying)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LeadFilter:
        return cls(
            stages=tuple(data.get("stages", ())),
            sources=tuple(data.get("sources", ())),
            decaying=bool(data.get("decaying", False)),
        )
