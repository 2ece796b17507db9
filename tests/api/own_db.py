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


async def assert_each_lead_once(url: str, *, leads: int) -> None:
    """Bulk job 1 evaluated each of ``leads`` leads exactly once for its version, created no
    handoff twice, and attempted at most 1.1x the work of one uninterrupted run."""
    [(version,)] = await query(url, "SELECT rulebook_version FROM bulk_job WHERE id = 1")
    per_lead = await query(
        url,
        "SELECT COUNT(*), COUNT(DISTINCT lead_id) FROM evaluation "
        f"WHERE rulebook_version = '{version}'",
    )
    assert per_lead == [(leads, leads)]
    created = (
        "FROM handoff h JOIN evaluation e ON h.evaluation_id = e.id "
        f"WHERE e.rulebook_version = '{version}'"
    )
    doubled = await query(url, f"SELECT h.lead_id {created} GROUP BY h.lead_id HAVING COUNT(*) > 1")
    assert doubled == []
    pending = "SELECT lead_id FROM handoff WHERE status = 'pending' GROUP BY lead_id"
    assert await query(url, f"{pending} HAVING COUNT(*) > 1") == []
    [(handoffs,)] = await query(url, f"SELECT COUNT(*) {created}")
    [(reported,)] = await query(url, "SELECT SUM(handoffs) FROM bulk_job_chunk")
    assert handoffs == reported
    assert isinstance(handoffs, int)
    assert handoffs > 0  # the rulebooks of these tests hand leads off: the check above can fail
    [(work,)] = await query(url, "SELECT SUM(attempted) FROM bulk_job_chunk")
    assert isinstance(work, int)
    assert leads <= work <= 1.1 * leads, work
