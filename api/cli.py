"""The ``leadgate`` command: serve, migrate, seed, export the schema, and the rules tools."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from typing import Annotated

import typer

from api.settings import get_settings

app = typer.Typer(help="Leadgate: rules-driven lead qualification.", no_args_is_help=True)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
graphql_app = typer.Typer(help="The GraphQL contract.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(graphql_app, name="graphql")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address")] = None,
    port: Annotated[int | None, typer.Option(help="Port")] = None,
) -> None:
    """Run the service with uvicorn."""
    import uvicorn

    settings = get_settings()
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        log_level=settings.log_level,
    )


@db_app.command("migrate")
def db_migrate() -> None:
    """Apply all migrations to LEADGATE_DATABASE_URL."""
    from api.migrate import migrate_database

    asyncio.run(migrate_database(get_settings().database_url))


@db_app.command("makemigrations")
def db_makemigrations(name: Annotated[str | None, typer.Option(help="Name")] = None) -> None:
    """Write a migration for model changes (wraps ``tortoise makemigrations``)."""
    extra = ["--name", name] if name else []
    raise typer.Exit(subprocess.call([sys.executable, "-m", "tortoise", "makemigrations", *extra]))


@graphql_app.command("export-schema")
def export_schema() -> None:
    """Print the SDL that the server serves (commit it as schema/schema.graphql)."""
    from schema.root import build_schema

    typer.echo(build_schema().as_str())


def main() -> None:
    app()
