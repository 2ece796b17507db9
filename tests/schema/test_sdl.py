"""The SDL contract: schema/schema.graphql is exactly what the server serves.

Regenerate with `make schema` (or `leadgate graphql export-schema > schema/schema.graphql`)
and commit the diff, so frontends see every change to the contract in review.
"""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.routing import Route
from typer.testing import CliRunner

from api.cli import app as cli

SDL = Path(__file__).parents[2] / "schema" / "schema.graphql"


def served_sdl(app: Starlette) -> str:
    [route] = [r for r in app.routes if isinstance(r, Route) and r.path == "/graphql"]
    sdl: str = route.endpoint.schema.as_str()  # type: ignore[attr-defined]
    return sdl


def test_committed_sdl_matches_the_served_schema(app: Starlette) -> None:
    assert SDL.read_text() == served_sdl(app) + "\n", (
        "schema/schema.graphql is stale: run `make schema` and commit it"
    )


def test_export_command_prints_the_served_schema(app: Starlette) -> None:
    result = CliRunner().invoke(cli, ["graphql", "export-schema"])
    assert result.exit_code == 0, result.output
    assert result.output == served_sdl(app) + "\n"
