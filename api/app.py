"""The composition root: the only module that knows api, rules and schema together."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.exceptions import ConnectionRejectionError
from strawberry.types.unset import UnsetType
from tortoise import Tortoise
from tortoise.contrib.starlette import RegisterTortoise

from api.auth import LOCAL_ADMIN, authenticate
from api.db import tortoise_config
from api.engine import RulesEngine
from api.errors import LeadgateError
from api.events import EventBus
from api.live import LiveEngine
from api.middleware import BodySizeLimit
from api.periodic import check_sla, every, rescore
from api.rulebook_versions import bootstrap, load_version
from api.runner import EngineLease, run_jobs
from api.settings import Settings, get_settings
from api.shadow import ShadowRunner
from rules import Rulebook
from schema.context import Context
from schema.hardening import GraphQLOverHTTP
from schema.root import build_schema

log = logging.getLogger(__name__)


class LeadgateGraphQL(GraphQLOverHTTP):
    """Strawberry's ASGI app with our per-request context."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(
            build_schema(settings),
            graphql_ide="graphiql" if settings.dev else None,
            allow_queries_via_get=True,
        )
        self.settings = settings

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket | None
    ) -> Context:
        context = Context(
            request=request,
            response=response if isinstance(response, Response) else None,
            settings=self.settings,
            # The engine leased for this request (EngineLease), so a live swap never changes
            # it halfway; WebSockets take the current one.
            engine=request.scope.get(EngineLease.KEY) or request.app.state.engine,
            events=request.app.state.events,
        )
        await self._authenticate(context, request.headers.get("authorization", ""))
        if context.principal is None and context.response is not None:
            context.response.status_code = 401
        return context

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """Browsers cannot set headers on a WebSocket: the key may come in connection_init."""
        params = context.connection_params or {}
        header = params.get("Authorization") or params.get("authorization")
        if context.principal is None and isinstance(header, str):
            await self._authenticate(context, header)
        if context.principal is None:
            raise ConnectionRejectionError({"reason": context.auth_error or "missing API key"})
        return None  # the default acknowledgement

    async def _authenticate(self, context: Context, header: str) -> None:
        scheme, _, token = header.partition(" ")
        if token and scheme.lower() == "bearer":
            try:
                context.principal = await authenticate(token.strip())
            except LeadgateError as exc:
                context.auth_error = exc.message
        elif header:
            context.auth_error = "unsupported Authorization scheme"
        elif self.settings.dev_anonymous_admin:
            context.principal = LOCAL_ADMIN


async def healthz(request: Request) -> Response:
    """The process answers. Nothing else is checked, so orchestrators don't restart on DB blips."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Ready when the database answers and a rulebook is loaded."""
    checks: dict[str, Any] = {}
    try:
        await Tortoise.get_connection("default").execute_query("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # any driver error means "not ready", and says why
        checks["database"] = f"error: {type(exc).__name__}"
    rulebook = getattr(request.app.state, "rulebook", None)
    checks["rulebook"] = rulebook.version if rulebook is not None else "not loaded"
    ready = checks["database"] == "ok" and rulebook is not None
    return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)


@asynccontextmanager
async def _background(*jobs: Coroutine[Any, Any, None]) -> AsyncIterator[None]:
    """Tasks that live as long as the app, cancelled when it stops."""
    tasks = [asyncio.create_task(job) for job in jobs]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _lifespan(settings: Settings) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(
                RegisterTortoise(app, config=tortoise_config(settings.database_url))
            )
            live = await _start_engine(app, settings)
            stack.push_async_callback(live.close)
            events = EventBus(interval_s=settings.event_poll_interval_s)
            events.start()
            stack.push_async_callback(events.stop)
            app.state.events = events

            async def rescore_tick() -> str | None:
                async with live.lease() as engine:
                    return await rescore(engine)()

            shadow = ShadowRunner(timeout_s=settings.engine_timeout_s)
            stack.push_async_callback(shadow.close)
            jobs = [every(settings.shadow_poll_interval_s, "shadow", shadow.tick)]
            if settings.job_runner == "inline":
                jobs.append(
                    every(
                        settings.job_poll_interval_s,
                        "jobs",
                        run_jobs(live, batch_size=settings.job_batch_size),
                    )
                )
            await stack.enter_async_context(
                _background(
                    live.follow(settings.rulebook_poll_interval_s),
                    every(settings.sla_check_interval_s, "sla", check_sla),
                    every(settings.rescore_interval_s, "rescore", rescore_tick),
                    *jobs,
                )
            )
            stack.callback(setattr, app.state, "rulebook", None)
            yield

    return lifespan


async def _start_engine(app: Starlette, settings: Settings) -> LiveEngine:
    """The active version (LEADGATE_RULES_DIR only on a database that has none yet)."""
    row, bootstrapped = await bootstrap(rules_dir=settings.rules_dir)
    if bootstrapped:
        log.info("no active rulebook: published %s as %s", settings.rules_dir, row.version[:12])

    def factory(book: Rulebook) -> RulesEngine:
        return RulesEngine(
            book, workers=settings.engine_workers, timeout_s=settings.engine_timeout_s
        )

    def on_swap(engine: RulesEngine) -> None:
        app.state.engine, app.state.rulebook = engine, engine.rulebook

    engine = await asyncio.to_thread(lambda: factory(load_version(row)))
    live = LiveEngine(engine, factory=factory, on_swap=on_swap)
    on_swap(engine)
    app.state.live = live
    return live


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or get_settings()
    graphql = LeadgateGraphQL(settings)
    app = Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
        ],
        middleware=[
            Middleware(BodySizeLimit, max_body_bytes=settings.max_body_bytes),
            Middleware(EngineLease),
        ],
        lifespan=_lifespan(settings),
    )
    app.state.settings = settings
    app.state.rulebook = None
    app.state.live = None
    return app
