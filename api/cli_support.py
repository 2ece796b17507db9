"""What every ``leadgate`` command that touches the database shares."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, TypeVar

import typer

from api.settings import get_settings

T = TypeVar("T")


async def with_db(work: Coroutine[Any, Any, T]) -> T:
    """Run one service call against LEADGATE_DATABASE_URL; typed errors exit 1 with the reason."""
    from tortoise import Tortoise

    from api.db import tortoise_config
    from api.errors import LeadgateError

    await Tortoise.init(config=tortoise_config(get_settings().database_url))
    try:
        return await work
    except LeadgateError as exc:
        located = getattr(exc, "errors", None)  # a rejected rulebook: every located error
        if located:
            for error in located:
                typer.echo(str(error), err=True)
            typer.echo(f"error: {len(located)} error(s) in the rulebook", err=True)
            raise typer.Exit(1) from exc
        hint = f" ({exc.suggestion})" if exc.suggestion else ""
        typer.echo(f"error: {exc.message}{hint}", err=True)
        raise typer.Exit(1) from exc
    finally:
        await Tortoise.close_connections()


def table(header: list[str], rows: list[list[str]]) -> str:
    """Aligned plain-text columns (scripts can split on two or more spaces)."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip()
        for r in [header, *rows]
    )
