"""The composition root: the only module that knows api, rules and schema together."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any

import structlog
from cross_web import HTTPException
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket, WebSocketState
from strawberry.exceptions import ConnectionRejectionError
from strawberry.types.unset import UnsetType
from tortoise import Tortoise
from tortoise.contrib.starlette import RegisterTortoise

from api.auth import LOCAL_ADMIN, authenticate, key_is_active
from api.background import Jobs
from api.candidates import CandidateEngines
from api.db import tortoise_config
from api.engine import RulesEngine
from api.errors import LeadgateError
from api.events import EventBus
from api.idempotency import SCOPE
from api.ingest.http import ROUTES as INGEST_ROUTES
from api.ingest.segment import event_types as segment_event_types
from api.live import LiveEngine
from api.middleware import BodyReadTimeout, BodySizeLimit, RequestContext
from api.periodic import check_sla, escalate, every, rescore
from api.routing import Router
from api.rulebook_signal import listen
from api.rulebook_store import load_stored
from api.rulebook_versions import bootstrap
from api.rules_watch import watch_rules
from api.runner import EngineLease, run_jobs
from api.settings import Settings, get_settings
from api.shadow import ShadowRunner
from api.targeting import rescore_adjusted
from api.telemetry import metrics
from api.webhooks.dispatcher import DeliveryPolicy, Dispatcher
from rules import Rulebook
from schema.context import Context
from schema.graphiql import GRAPHIQL_ASSETS, GRAPHIQL_PATH, local_graphiql
from schema.http import GraphQLOverHTTP
from schema.root import build_schema

logger = logging.getLogger("leadgate.app")


class LeadgateGraphQL(GraphQLOverHTTP):
    """Strawberry's ASGI app with our per-request context."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(
            build_schema(settings),
            graphql_ide="graphiql" if settings.dev else None,
            allow_queries_via_get=True,
        )
        self.settings = settings
        self._watchers: set[asyncio.Task[None]] = set()

    @property
    def graphql_ide_html(self) -> str:
        """strawberry's GraphiQL page, loading its assets from this server (works offline)."""
        return local_graphiql(super().graphql_ide_html)

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
            jobs=request.app.state.jobs,
            router=request.app.state.router,
        )
        await self._authenticate(context, request.headers.get("authorization", ""))
        if context.principal is None and context.response is not None:
            context.response.status_code = 401
        if context.principal is not None:
            key_id = context.principal.key_id
            SCOPE.set(f"key:{key_id}" if key_id else context.principal.name)
            structlog.contextvars.bind_contextvars(key=context.principal.prefix or "-")
        return context

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """Browsers cannot set headers on a WebSocket: the key may come in connection_init.

        A key sent there is checked in every mode (a wrong key is never replaced by the dev
        mode's anonymous admin), and a keyed connection is closed with 4403 once its key is
        revoked (checked every ``key_check_interval_s``).
        """
        params = context.connection_params or {}
        header = params.get("Authorization") or params.get("authorization")
        if isinstance(header, str) and header:
            context.principal, context.auth_error = None, None
            await self._authenticate(context, header)
        if context.principal is None:
            raise ConnectionRejectionError({"reason": context.auth_error or "missing API key"})
        key_id = context.principal.key_id
        SCOPE.set(f"key:{key_id}" if key_id else context.principal.name)
        if key_id is not None and isinstance(context.request, WebSocket):
            task = asyncio.create_task(self._close_when_revoked(context.request, key_id))
            self._watchers.add(task)
            task.add_done_callback(self._watchers.discard)
        return None  # the default acknowledgement

    async def _close_when_revoked(self, websocket: WebSocket, key_id: int) -> None:
        while websocket.application_state is WebSocketState.CONNECTED:
            await asyncio.sleep(self.settings.key_check_interval_s)
            try:
                revoked = not await key_is_active(key_id)
            except Exception:  # database blip: keep the connection, check again later
                continue
            if revoked and websocket.application_state is WebSocketState.CONNECTED:
                await websocket.close(4403, "API key revoked")
                return

    async def _authenticate(self, context: Context, header: str) -> None:
        scheme, _, token = header.partition(" ")
        if token and scheme.lower() == "bearer":
            try:
                context.principal = await authenticate(token.strip())
            except LeadgateError as exc:
                context.auth_error = exc.message
            except Exception as exc:  # the key look-up needs the database: it is unreachable
                logger.error("API key look-up failed: %s", type(exc).__name__)
                raise HTTPException(
                    503, "Service unavailable: the database does not answer"
                ) from exc
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


async def _later(delay_s: float, job: Coroutine[Any, Any, None]) -> None:
    """Start a safety-net job one interval after startup: mutations kick it when needed."""
    try:
        await asyncio.sleep(delay_s)
    except asyncio.CancelledError:
        job.close()
        raise
    await job


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
            jobs: Jobs = app.state.jobs
            router: Router = app.state.router
            stack.push_async_callback(jobs.close)

            async def rescore_tick() -> str | None:
                async with live.lease() as engine:
                    return await rescore(engine)()

            async def escalate_tick() -> str | None:
                async with live.lease() as engine:
                    return await escalate(engine)()

            async def route_waiting() -> str | None:
                async with live.lease() as engine:
                    return await router.retry(engine)

            async def retarget() -> str | None:
                async with live.lease() as engine:
                    return await rescore_adjusted(engine=engine)

            shadow = ShadowRunner(timeout_s=settings.engine_timeout_s)
            stack.push_async_callback(shadow.close)
            app.state.candidates = CandidateEngines(timeout_s=settings.engine_timeout_s)
            stack.push_async_callback(app.state.candidates.close)
            tasks = [
                live.follow(settings.rulebook_poll_interval_s),
                listen(
                    live.on_message, live.use_pointer
                ),  # PostgreSQL: swap on NOTIFY, not on the next poll
                every(settings.sla_check_interval_s, "sla", check_sla),
                every(settings.sla_check_interval_s, "escalation", escalate_tick),
                _later(
                    settings.sla_check_interval_s,
                    every(settings.sla_check_interval_s, "routing", route_waiting),
                ),
                _later(
                    settings.sla_check_interval_s,
                    every(settings.sla_check_interval_s, "retarget", retarget),
                ),
                every(settings.rescore_interval_s, "rescore", rescore_tick),
                every(settings.shadow_poll_interval_s, "shadow", shadow.tick),
            ]
            if settings.job_runner == "inline":  # issue 10: bulk jobs
                tasks.append(
                    every(
                        settings.job_poll_interval_s,
                        "jobs",
                        run_jobs(live, batch_size=settings.job_batch_size),
                    )
                )
            if settings.rules_watch and settings.dev:  # issue 10: edit, save, try
                tasks.append(watch_rules(settings.rules_dir))
            elif settings.rules_watch:
                logger.warning("LEADGATE_RULES_WATCH is ignored without LEADGATE_DEV")
            if settings.webhook_dispatch:  # issue 15: webhooks from the outbox
                dispatcher = Dispatcher(
                    policy=DeliveryPolicy.from_settings(settings),
                    interval_s=settings.webhook_poll_interval_s,
                )
                stack.push_async_callback(dispatcher.close)
                tasks.append(dispatcher.run())
            await stack.enter_async_context(_background(*tasks))
            stack.callback(setattr, app.state, "rulebook", None)
            yield

    return lifespan


def _middleware(settings: Settings) -> list[Middleware]:
    """Issue 13: CORS, request ids and logs, slow and oversized bodies (outermost first)."""
    stack = [
        Middleware(RequestContext),
        Middleware(BodyReadTimeout, timeout_s=settings.body_timeout_s),
        Middleware(BodySizeLimit, max_body_bytes=settings.max_body_bytes),
    ]
    if settings.cors_origins:
        cors = Middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "Accept", "X-Request-ID"],
            expose_headers=["X-Request-ID"],
            max_age=600,
        )
        stack.insert(0, cors)
    return stack


async def _start_engine(app: Starlette, settings: Settings) -> LiveEngine:
    """The active version (LEADGATE_RULES_DIR only on a database that has none yet)."""
    row, bootstrapped = await bootstrap(rules_dir=settings.rules_dir)
    if bootstrapped:
        logger.info("no active rulebook: published %s as %s", settings.rules_dir, row.version[:12])

    def start(book: Rulebook) -> RulesEngine:
        return RulesEngine(
            book, workers=settings.engine_workers, timeout_s=settings.engine_timeout_s
        )

    def on_swap(engine: RulesEngine) -> None:
        app.state.engine, app.state.rulebook = engine, engine.rulebook

    engine = await asyncio.to_thread(start, await load_stored(row))  # stores a missing form
    live = LiveEngine(engine, on_swap=on_swap)
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
            *([Route("/metrics", metrics)] if settings.metrics_enabled else []),
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            *INGEST_ROUTES,  # issue 15: Segment-spec ingest
            *(
                [Mount(GRAPHIQL_PATH, StaticFiles(directory=GRAPHIQL_ASSETS))]
                if settings.dev
                else []
            ),
        ],
        middleware=[*_middleware(settings), Middleware(EngineLease)],
        lifespan=_lifespan(settings),
    )
    app.state.settings = settings
    app.state.segment_event_types = segment_event_types(settings.segment_events)
    app.state.rulebook = None
    app.state.jobs, app.state.router = Jobs(), Router()  # follow-up work of mutations
    app.state.live = None
    return app
