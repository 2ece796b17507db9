"""The ``leadgate`` command: serve, migrate, seed, export the schema, and the rules tools."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime
from typing import Annotated

import typer
from typer import _click as click  # the click typer vendors: its groups are typed with it
from typer.core import TyperGroup

from api import cli_rulebooks, cli_worker, cli_worktime
from api.admin_cli import campaigns_app, lead_app, reps_app
from api.cli_support import with_db as _with_db
from api.csv_cli import evaluations_app, leads_app
from api.enums import Role
from api.settings import get_settings
from api.webhooks.cli import app as webhooks_cli
from rules.cli import app as rules_cli

# Every command module imports the heavy parts (tortoise models, the engine, strawberry,
# durable_rules) inside the commands that use them: a `leadgate` start costs only typer and the
# settings. `rules simulate` and `rules shadow` import theirs at module level, so they are
# mounted on first use (`_LazyRules`).


def _simulate() -> click.Command:
    from api.cli_simulate import simulate_command

    sub = typer.Typer(add_completion=False)  # completion is the root command's
    sub.command("simulate")(simulate_command)
    return typer.main.get_command(sub)


def _shadow() -> click.Command:
    from api.cli_shadow import app as shadow_app

    return typer.main.get_group(shadow_app)  # a group without completion options of its own


_LAZY_RULES: dict[str, Callable[[], click.Command]] = {"simulate": _simulate, "shadow": _shadow}


class _LazyRules(TyperGroup):
    """``leadgate rules``: ``simulate`` and ``shadow`` are imported only when they run or are
    listed (``rules --help``), not for ``rules check`` or any other command."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        listed = super().list_commands(ctx)
        return [*listed, *(name for name in _LAZY_RULES if name not in listed)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in _LAZY_RULES:
            command = _LAZY_RULES[cmd_name]()
            command.name = cmd_name
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)


app = typer.Typer(
    help="Leadgate: rules-driven lead qualification.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,  # failures are one clear message (main), not a traceback
)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
graphql_app = typer.Typer(help="The GraphQL contract.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(graphql_app, name="graphql")
apikey_app = typer.Typer(help="API keys for integrations and frontends.", no_args_is_help=True)
app.add_typer(apikey_app, name="apikey")
app.add_typer(rules_cli, name="rules", cls=_LazyRules)
demo_app = typer.Typer(help="Demo data for trying Leadgate out.", no_args_is_help=True)
app.add_typer(demo_app, name="demo")
app.add_typer(webhooks_cli, name="webhooks")  # issue 15
app.add_typer(leads_app, name="leads")  # issue 15: CSV
app.add_typer(evaluations_app, name="evaluations")
app.add_typer(reps_app, name="reps")
app.add_typer(campaigns_app, name="campaigns")
app.add_typer(lead_app, name="lead")
cli_rulebooks.register(rules_cli, app)
cli_worker.register(app, cli_rulebooks.jobs_app)  # issue 10: procrastinate workers
_ = cli_worktime  # imported for its `reps away|back|absences|hours|calendar` commands (#16)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address")] = None,
    port: Annotated[int | None, typer.Option(help="Port")] = None,
    watch_rules: Annotated[
        bool,
        typer.Option(
            "--watch-rules",
            help="Dev: publish + activate LEADGATE_RULES_DIR on every save that validates",
        ),
    ] = False,
) -> None:
    """Run the service with uvicorn."""
    import uvicorn

    from api.logs import configure_logging
    from api.server import server_config
    from rules.loader import load_rulebook

    if watch_rules:
        if not get_settings().dev:
            raise typer.BadParameter(
                "needs LEADGATE_DEV=1 (development only)", param_hint="--watch-rules"
            )
        os.environ["LEADGATE_RULES_WATCH"] = "1"  # the app factory reads the settings again
        get_settings.cache_clear()
    settings = get_settings()
    load_rulebook(settings.rules_dir)  # every located error, before anything starts
    asyncio.run(_with_db(_ping()))
    configure_logging(settings)
    config = server_config(
        settings,
        "api.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
    )
    uvicorn.Server(config).run()


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
    from api.lead_filter import LeadFilter

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


@apikey_app.command("list")
def apikey_list(
    all_keys: Annotated[bool, typer.Option("--all", help="Also list revoked keys")] = False,
) -> None:
    """List API keys: prefix, name, role, rep, created, last used, revoked."""
    from api.admin_cli import api_key_table

    typer.echo(asyncio.run(_with_db(api_key_table(include_revoked=all_keys))))


@apikey_app.command("revoke")
def apikey_revoke(prefix: Annotated[str, typer.Argument(help="The key's prefix")]) -> None:
    """Revoke an API key: requests with it fail from now on."""
    from api.auth import revoke_api_key

    key = asyncio.run(_with_db(revoke_api_key(prefix=prefix)))
    typer.echo(f"revoked {key.prefix} ({key.name}, {key.role})")


async def _ping() -> None:
    from tortoise import Tortoise

    await Tortoise.get_connection("default").execute_query("SELECT 1")


def main() -> None:
    """The entry point: expected failures print one clear message and exit 1."""
    try:
        app()
    except Exception as exc:
        typer.echo(failure_message(exc), err=True)
        sys.exit(1)


def failure_message(exc: BaseException) -> str:
    """What an operator needs to read about a failure, without a traceback."""
    from rules.errors import RulebookInvalid, RulesError

    if isinstance(exc, RulebookInvalid):
        folder = get_settings().rules_dir
        lines = [str(error) for error in exc.errors]
        return "\n".join([*lines, f"error: {len(exc.errors)} error(s) in the rulebook {folder}"])
    if isinstance(exc, RulesError):
        return f"error: {exc}"
    if _is_database_failure(exc):
        url = _redacted(get_settings().database_url)
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        return f"error: cannot use the database at {url}: {reason}"
    reason = " ".join(str(exc).split())[:200]
    return f"error: {type(exc).__name__}: {reason} (a bug: please report it)"


def _is_database_failure(exc: BaseException) -> bool:
    from tortoise.exceptions import BaseORMException

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError | BaseORMException) or type(seen).__module__.startswith(
            ("asyncpg", "sqlite3", "aiosqlite")
        ):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _redacted(url: str) -> str:
    """The database URL without its password."""
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not at:
        return url
    user = credentials.split(":", 1)[0]
    return f"{scheme}{sep}{user}:***@{host}" if ":" in credentials else url


if __name__ == "__main__":
    main()
