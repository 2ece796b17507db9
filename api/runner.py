"""Where the live engine meets work: a lease per HTTP request, and the in-server job runner."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from api.enums import JobStatus
from api.jobs import run_job, unfinished_jobs
from api.live import LiveEngine


class EngineLease:
    """ASGI middleware: each HTTP request runs on the engine current when it arrived, which
    stays open until the response is sent, whatever swap happens meanwhile."""

    KEY = "leadgate.engine"

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        live: LiveEngine | None = getattr(scope["app"].state, "live", None)
        if scope["type"] != "http" or live is None:
            await self.app(scope, receive, send)
            return
        async with live.lease() as engine:
            scope[self.KEY] = engine
            await self.app(scope, receive, send)


def run_jobs(live: LiveEngine, *, batch_size: int) -> Callable[[], Awaitable[str | None]]:
    """A tick of the in-server runner: claim and run chunks of jobs for the live version.

    Jobs of other versions were superseded when a newer version was activated; several server
    processes share one job chunk by chunk (claims are atomic).
    """

    async def tick() -> str | None:
        async with live.lease() as engine:
            done = []
            for job in await unfinished_jobs():
                if job.rulebook_version != engine.version:
                    continue
                finished = await run_job(job.id, engine=engine, batch_size=batch_size)
                if finished.status == JobStatus.DONE:
                    done.append(job.id)
            return f"finished bulk jobs {done}" if done else None

    return tick
