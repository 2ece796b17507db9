"""Background work a mutation sets off once it has committed (api/background.py)."""

from __future__ import annotations

from api.targeting import rescore_adjusted
from schema.context import Info


def capacity_freed(info: Info) -> None:
    """A handoff was decided or a lead left the handoff: leads waiting for a rep may fit now."""
    context = info.context
    engine = context.engine

    async def job() -> str | None:
        return await context.router.retry(engine)

    context.jobs.kick("routing", job)


def feedback_recorded(info: Info) -> None:
    """Feedback may have created adjustments (or one was revoked): re-score their leads."""
    engine = info.context.engine

    async def job() -> str | None:
        return await rescore_adjusted(engine=engine)

    info.context.jobs.kick("retarget", job)
