"""Work the app does on a clock: SLA breaches, and re-scoring leads whose engagement decays."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from api.bulk import decaying_lead_ids, evaluate_leads
from api.engine import RulesEngine
from api.enums import EvaluationTrigger
from api.handoffs import expire_overdue
from api.telemetry import SLA_BREACHES

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


def rescore(engine: RulesEngine) -> Callable[[], Awaitable[str | None]]:
    """Engagement decays with time, not with events: re-evaluate the leads it still moves."""

    async def tick() -> str | None:
        ids = await decaying_lead_ids()
        if not ids:
            return None
        summary = await evaluate_leads(
            engine=engine, lead_ids=ids, trigger=EvaluationTrigger.SCHEDULE
        )
        return f"re-scored {summary.evaluated} leads, {summary.moved} moved"

    return tick
