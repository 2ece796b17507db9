"""The periodic SLA check: pending handoffs past their deadline become expired, with an event."""

from __future__ import annotations

import asyncio
import logging

from api.handoffs import expire_overdue

log = logging.getLogger(__name__)


async def sla_watch(interval_s: float) -> None:
    """Runs for the life of the app. A failing check is logged and retried next tick."""
    while True:
        try:
            expired = await expire_overdue()
            if expired:
                log.info("sla: %d handoffs expired", expired)
        except Exception:  # keep watching: the next tick may succeed (DB restart, etc.)
            log.exception("sla check failed")
        await asyncio.sleep(interval_s)
