"""The ``leadgate`` command: serve, migrate, seed, export the schema, and the rules tools."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Coroutine
from datetime import datetime
from typing import Annotated, Any, TypeVar

import typer

from api import cli_rulebooks, cli_shadow, cli_simulate
from api.enums import Role
from api.settings import get_settings
from rules.cli import app as rules_cli

T = TypeVar("T")

app = typer.Typer(help="Leadgate: rules-driven lead qualification.", no_args_is_help=True)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
graphql_app = typer.Typer(help="The GraphQL contract.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(graphql_app, name="graphql")
apikey_app = typer.Typer(help="API keys for integrations and frontends.", no_args_is_help=True)
app.add_typer(apikey_app, name="apikey")
app.add_typer(rules_cli, name="rules")
demo_app = typer.Typer(help="Demo data for trying Leadgate out.", no_args_is_help=True)
app.add_typer(demo_app, name="demo")
cli_rulebooks.register(rules_cli, app)
rules_cli.command("simulate")(cli_simulate.simulate_command)
rules_cli.add_typer(cli_shadow.app, name="shadow")


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


@demo_app.command("seed")
def demo_seed(
    leads: Annotated[int, typer.Option(min=1, help="Number of leads")] = 5000,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same data")] = 7,
    anchor: Annotated[
        datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="Day the data ends at (default: today, UTC)"),
    ] = None,
    if_empty: Annotated[bool, typer.Option("--if-empty", help="Skip if any lead exists")] = False,
    evaluate: Annotated[
        bool, typer.Option(help="Then evaluate every lead, so explanations exist")
    ] = True,
) -> None:
    """Fill the (migrated) database with ~6 months of a B2B SaaS funnel."""
    from api.cli_rulebooks import evaluate_all
    from api.demo import seed_demo
    from api.jobs import LeadFilter

    async def run() -> None:
        summary = await seed_demo(
            seed=seed, leads=leads, anchor=anchor.date() if anchor else None, if_empty=if_empty
        )
        if summary.skipped:
            typer.echo("Leads already exist: demo seed skipped.")
            return
        typer.echo("Seeded demo data:")
        for name, count in summary.as_dict().items():
            if name != "skipped":
                typer.echo(f"  {name:<20} {count:>7}")
        if evaluate:
            typer.echo("Evaluating every lead with the rulebook (a minute for 5,000 leads)…")
            typer.echo(await evaluate_all(LeadFilter()))

    asyncio.run(_with_db(run()))


@apikey_app.command("create")
def apikey_create(
    name: Annotated[str, typer.Argument(help="Who or what will use the key")],
    role: Annotated[Role, typer.Option(help="What the key may do")],
    rep: Annotated[str | None, typer.Option(help="Bind a sales key to this rep's email")] = None,
) -> None:
    """Create an API key and print its token (shown this once, stored only as a hash)."""
    from api.auth import create_api_key

    _, token = asyncio.run(_with_db(create_api_key(name=name, role=role, rep_email=rep)))
    typer.echo(token)


@apikey_app.command("revoke")
def apikey_revoke(prefix: Annotated[str, typer.Argument(help="The key's prefix")]) -> None:
    """Revoke an API key: requests with it fail from now on."""
    from api.auth import revoke_api_key

    key = asyncio.run(_with_db(revoke_api_key(prefix=prefix)))
    typer.echo(f"revoked {key.prefix} ({key.name}, {key.role})")


async def _with_db(work: Coroutine[Any, Any, T]) -> T:
    """Run one service call against LEADGATE_DATABASE_URL; typed errors exit 1 with the reason."""
    from tortoise import Tortoise

    from api.db import tortoise_config
    from api.errors import LeadgateError

    await Tortoise.init(config=tortoise_config(get_settings().database_url))
    try:
        return await work
    except LeadgateError as exc:
        hint = f" ({exc.suggestion})" if exc.suggestion else ""
        typer.echo(f"error: {exc.message}{hint}", err=True)
        raise typer.Exit(1) from exc
    finally:
        await Tortoise.close_connections()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
