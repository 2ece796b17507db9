"""GraphiQL works offline in dev mode: every asset the page loads comes from this server."""

from __future__ import annotations

import base64
import hashlib
import re

import httpx

from api.app import create_app
from api.settings import Settings


async def test_graphiql_loads_every_asset_locally(settings: Settings) -> None:
    # no lifespan: the IDE page and static files touch neither the database nor the engine
    app = create_app(settings.model_copy(update={"dev": True}))
    app.state.engine = app.state.events = None
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://leadgate.test") as http:
        page = await http.get("/graphql", headers={"Accept": "text/html"})
        assert page.status_code == 200
        html = page.text
        assert "unpkg.com" not in html
        assets = re.findall(r'(?:src|href)="(/graphiql-assets/[^"]+)"\s+integrity="([^"]+)"', html)
        assert len(assets) == 7, assets
        for url, integrity in assets:
            asset = await http.get(url)
            assert asset.status_code == 200, url
            digest = base64.b64encode(hashlib.sha384(asset.content).digest()).decode()
            assert integrity == f"sha384-{digest}", url  # the browser would refuse it otherwise


async def test_no_ide_and_no_assets_outside_dev_mode(settings: Settings) -> None:
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://leadgate.test") as http:
        asset = await http.get("/graphiql-assets/graphiql@3.8.3/graphiql.min.js")
        assert asset.status_code == 404
