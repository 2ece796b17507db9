"""What every resolver can reach: the request, the settings and this request's loaders."""

from __future__ import annotations

from dataclasses import dataclass, field

import strawberry
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from api.auth import Principal
from api.background import Jobs
from api.engine import RulesEngine
from api.events import EventBus
from api.routing import Router
from api.settings import Settings
from schema.loaders import Loaders


@dataclass
class Context:
    request: Request | WebSocket
    response: Response | None
    settings: Settings
    engine: RulesEngine
    events: EventBus
    jobs: Jobs
    router: Router
    principal: Principal | None = None
    auth_error: str | None = None
    connection_params: dict[str, object] | None = None
    loaders: Loaders = field(default_factory=Loaders)


Info = strawberry.Info[Context, None]
