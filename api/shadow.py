"""Shadow rulebook: a published candidate re-decides every live evaluation, off the request path.

The live path is untouched: each stored evaluation already announces itself in the outbox
(``domain_event`` kind ``evaluation``) with its exact input. A runner follows the outbox,
evaluates each stored input with the candidate, compares stage, route and SLA with what the
live version decided, and records the disagreements. Nothing the candidate decides is applied.
The cursor moves by compare-and-set with the rows it covers, so several server processes may
run the runner and each evaluation is compared once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from tortoise.expressions import F
from tortoise.functions import Count, Max
from tortoise.transactions import in_transaction

from api.engine import RulesEngine
from api.errors import Conflict, NotFound
from api.evaluations import stored_result, unpack_input
from api.models import DomainEvent, Evaluation, RulebookVersion, ShadowDisagreement, ShadowRun
from api.rulebook_store import load_version
from api.rulebook_versions import find_version
from rules import EvaluationResult, RulesError

BATCH = 200
KINDS = ("stage", "route", "sla")


async def start_shadow(*, version: str, started_by: str) -> ShadowRun:
    """Shadow a published version from now on (one shadow at a time; not the active one)."""
    row = await find_version(version)
    load_version(row)  # a candidate that no longer validates is refused here, with its errors
    if row.active:
        raise Conflict(
            f"{row.version[:12]} is the active version",
            field="version",
            suggestion="shadow a published version that is not active",
        )
    async with in_transaction():
        if await ShadowRun.filter(stopped_at__isnull=True).exists():
            raise Conflict(
                "a shadow is already running",
                field="version",
                suggestion="stop it first (leadgate rules shadow stop)",
            )
        last = await DomainEvent.all().annotate(m=Max("id")).values_list("m", flat=True)
        return await ShadowRun.create(
            candidate_version=row.version,
            cursor=int(cast(int, last[0] or 0)),
            started_by=started_by[:200],
        )


async def stop_shadow(*, stopped_by: str) -> ShadowRun:
    run = await ShadowRun.filter(stopped_at__isnull=True).first()
    if run is None:
        raise NotFound("no shadow is running", suggestion="start one: leadgate rules shadow start")
    await ShadowRun.filter(id=run.id).update(stopped_at=datetime.now(UTC), stopped_by=stopped_by)
    return await ShadowRun.get(id=run.id)


async def current_shadow() -> ShadowRun | None:
    return await ShadowRun.filter(stopped_at__isnull=True).first()


async def latest_shadow() -> ShadowRun | None:
    return await ShadowRun.all().order_by("-id").first()


def compare(
    live: EvaluationResult, candidate: EvaluationResult
) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """The kinds of decision on which the candidate differs: stage, route, SLA."""
    found = []
    for kind, pick in (("stage", _stage), ("route", _route), ("sla", _sla)):
        a, b = pick(live), pick(candidate)
        # The stage decision is the target stage; the rule is only its reason.
        differs = a["to_stage"] != b["to_stage"] if kind == "stage" else a != b
        if differs:
            found.append((kind, a, b))
    return found


def _stage(r: EvaluationResult) -> dict[str, Any]:
    return {"to_stage": r.stage.to_stage, "rule": r.stage.rule}


def _route(r: EvaluationResult) -> dict[str, Any]:
    return {"route": r.routing.route, "rep_id": r.routing.rep_id}


def _sla(r: EvaluationResult) -> dict[str, Any]:
    return {"priority": r.sla.priority, "hours": r.sla.hours} if r.sla else {"priority": None}


class ShadowRunner:
    """Follows the outbox for the running shadow; owns the candidate's engine."""

    def __init__(self, *, workers: int = 1, timeout_s: float = 5.0) -> None:
        self._engine: RulesEngine | None = None
        self._workers = workers
        self._timeout_s = timeout_s

    async def tick(self) -> str | None:
        run = await current_shadow()
        if run is None:
            await self.close()
            return None
        engine = await self._engine_for(run.candidate_version)
        compared = 0
        while (n := await self._batch(run, engine)) > 0:
            compared += n
            run = await ShadowRun.get(id=run.id)
            if run.stopped_at is not None:
                break
        return f"shadow compared {compared} evaluations" if compared else None

    async def _engine_for(self, version: str) -> RulesEngine:
        if self._engine is None or self._engine.version != version:
            await self.close()
            row = await RulebookVersion.get(version=version)
            self._engine = RulesEngine(
                load_version(row), workers=self._workers, timeout_s=self._timeout_s
            )
        return self._engine

    async def _batch(self, run: ShadowRun, engine: RulesEngine) -> int:
        events = (
            await DomainEvent.filter(id__gt=run.cursor, kind="evaluation")
            .order_by("id")
            .limit(BATCH)
        )
        if not events:
            return 0
        ids = [int(cast(dict[str, Any], e.payload)["id"]) for e in events]
        rows = {r.id: r for r in await Evaluation.filter(id__in=ids)}
        found: list[ShadowDisagreement] = []
        failed = 0
        for evaluation_id in ids:
            row = rows.get(evaluation_id)
            if row is None:
                continue
            try:
                live = _live(row)
                shadow = await engine.evaluate(unpack_input(row.input))
            except (RulesError, ValueError):
                failed += 1
                continue
            for kind, a, b in compare(live, shadow):
                found.append(
                    ShadowDisagreement(
                        shadow_id=run.id,
                        lead_id=row.lead_id,  # type: ignore[attr-defined]
                        evaluation_id=row.id,
                        kind=kind,
                        live=a,
                        candidate=b,
                    )
                )
        new_cursor = events[-1].id
        async with in_transaction():
            won = await ShadowRun.filter(id=run.id, cursor=run.cursor).update(
                cursor=new_cursor,
                compared=F("compared") + (len(rows) - failed),
                failed=F("failed") + failed,
            )
            if not won:  # another process compared this range first
                run.cursor = (await ShadowRun.get(id=run.id)).cursor
                return 0
            if found:
                await ShadowDisagreement.bulk_create(found)
        run.cursor = new_cursor
        return len(events)

    async def close(self) -> None:
        if self._engine is not None:
            engine, self._engine = self._engine, None
            await engine.close()


def _live(row: Evaluation) -> EvaluationResult:
    """What the live version decided, from the stored record (stage, routing, SLA)."""
    return stored_result(row)


@dataclass(frozen=True, slots=True)
class ShadowReport:
    run: ShadowRun
    counts: dict[str, int]
    samples: list[ShadowDisagreement]


async def shadow_report(*, samples: int = 10) -> ShadowReport:
    """Counts of disagreements by kind and the latest few, for the running (or last) shadow."""
    run = await current_shadow() or await latest_shadow()
    if run is None:
        raise NotFound("no shadow has run", suggestion="start one: leadgate rules shadow start")
    rows = (
        await ShadowDisagreement.filter(shadow_id=run.id)
        .annotate(n=Count("id"))
        .group_by("kind")
        .values_list("kind", "n")
    )
    counts = {kind: 0 for kind in KINDS} | {str(k): int(n) for k, n in rows}
    latest = await ShadowDisagreement.filter(shadow_id=run.id).order_by("-id").limit(samples)
    return ShadowReport(run=run, counts=counts, samples=latest)
