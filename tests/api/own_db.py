"""Helpers for tests that run `leadgate` subprocesses on a database of their own and read it
back with plain SQL (the ORM in the test process belongs to the session database)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys

import asyncpg

from tests.conftest import ON_POSTGRES


async def query(url: str, sql: str) -> list[tuple[object, ...]]:
    if ON_POSTGRES:
        conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
        try:
            return [tuple(r) for r in await conn.fetch(sql)]
        finally:
            await conn.close()
    with sqlite3.connect(url.removeprefix("sqlite://"), timeout=30) as conn:
        return conn.execute(sql).fetchall()


async def start(
    url: str, *args: str, env: dict[str, str] | None = None
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "api.cli",
        *args,
        env={**os.environ, **(env or {}), "LEADGATE_DATABASE_URL": url},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def leadgate(url: str, *args: str, env: dict[str, str] | None = None) -> str:
    """Run a command to completion; its stdout (fails the test on a non-zero exit)."""
    proc = await start(url, *args, env=env)
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    return out.decode()
