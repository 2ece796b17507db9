"""Work the app does on a clock: SLA breaches, and re-scoring leads whose engagement decays."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from api.bulk import due_lead_ids, evaluate_leads
from api.engine import RulesEngine
from api.enums import EvaluationTrigger
from api.escalation import escalate_due
from api.handoffs import expire_overdue
from api.telemetry import ESCALATIONS, SLA_BREACHES

log = logging.getLogger(__name__)


async def every(interval_s: float, name: str, tick: Callable[[], Awaitable[str | None]]) -> None:
    """Runs for the life of the app. A failing tick is logged and retried next time."""
    while True:
        try:
            said = await tick()
            if said:
                log.info("%s: %s", name, said)
        except Exception:  # keep going: the next tick may succeed (database restart, etc.)
            log.exception("%s failed", name)
        await asyncio.sleep(interval_s)


async def check_sla() -> str | None:
    expired = await expire_overdue()
    SLA_BREACHES.inc(expired)
    return f"{expired} handoffs expired" if expired else None


def escalate(
    engine: RulesEngine, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> Callable[[], Awaitable[str | None]]:
    """Re-assign handoffs nobody accepted in time (``sla.escalation``): on the SLA clock."""

    async def tick() -> str | None:
        steps = await escalate_due(book=engine.rulebook, now=clock())
        ESCALATIONS.inc(steps)
        return f"{steps} handoff escalation steps" if steps else None

    return tick


RESCORE_BATCH = 5_000
"""Due leads taken per tick; the rest are still due at the next tick."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


def rescore(
    engine: RulesEngine, *, clock: Callable[[], datetime] = _utcnow
) -> Callable[[], Awaitable[str | None]]:
    """Re-evaluate only the leads whose outcome can have changed by itself (an activity left a
    window, a decaying score crossed a threshold): each evaluation stored when that is next.
    A lead that is not due costs nothing, so a server start re-scores nothing."""

    async def tick() -> str | None:
        now = clock()
        ids = await due_lead_ids(now, limit=RESCORE_BATCH)
        if not ids:
            return None
        summary = await evaluate_leads(
            engine=engine, lead_ids=ids, trigger=EvaluationTrigger.SCHEDULE, now=now
        )
        return (
            f"re-scored {summary.evaluated} due leads, {summary.recorded} new decisions, "
            f"{summary.moved} moved"
        )

    return tick
