"""GraphiQL (dev mode) with its assets served by this server, not a CDN: the page strawberry
ships, with every ``https://unpkg.com/`` URL pointing at schema/static/graphiql/."""

from __future__ import annotations

from pathlib import Path
from typing import Final

GRAPHIQL_PATH: Final = "/graphiql-assets"
GRAPHIQL_ASSETS: Final = Path(__file__).parent / "static" / "graphiql"
CDN: Final = "https://unpkg.com/"


def local_graphiql(html: str) -> str:
    """The IDE page with CDN URLs replaced by local ones (the integrity hashes still apply)."""
    return html.replace(CDN, f"{GRAPHIQL_PATH}/")
