"""PostgreSQL LISTEN/NOTIFY for rulebook changes, so servers swap in milliseconds, not a poll.

Publishing and activating send a notification inside their transaction (PostgreSQL delivers it
at commit, so listeners never see a pointer that is not there yet). Each server keeps one
extra connection that listens and reads a notified version there (its files and its stored
parsed form), so the version is loaded before it is activated; when the connection drops, the
poll of the active pointer still converges and the listener reconnects. SQLite has no
notifications: polling only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any

import asyncpg
from tortoise import connections

from api.models import RulebookVersion

log = logging.getLogger(__name__)

CHANNEL = "leadgate_rulebook"
RECONNECT_S = 5.0
_POOL_ONLY = {"max_queries", "max_inactive_connection_lifetime", "setup", "init", "reset"}


def _postgres() -> Any | None:
    conn = connections.get("default")
    return conn if conn.capabilities.dialect == "postgres" else None


async def notify(kind: str, version: str) -> None:
    """Tell every listening process that ``version`` was ``published`` or ``activated``.

    Call inside the transaction that makes the change: the message leaves at commit."""
    conn = _postgres()
    if conn is not None:
        await conn.execute_query("SELECT pg_notify($1, $2)", [CHANNEL, f"{kind}:{version}"])


class ConnectionPointer:
    """The active pointer and a stored version, read on the listener's own connection: a
    loaded server's request pool can keep every pooled connection busy for seconds."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self._one_at_a_time = asyncio.Lock()  # a connection runs one query at a time
        self._read: dict[str, RulebookVersion] = {}  # "published" then "activated": one read

    async def active(self) -> str | None:
        async with self._one_at_a_time:
            found = await self._conn.fetchval(
                "SELECT version FROM rulebook_version WHERE active LIMIT 1"
            )
        return str(found) if found is not None else None

    async def stored(self, version: str) -> RulebookVersion | None:
        """The version's files and parsed form (an unsaved row: nothing else is read)."""
        async with self._one_at_a_time:
            if version not in self._read:
                found = await self._conn.fetchrow(
                    "SELECT files, parsed, parsed_format FROM rulebook_version WHERE version = $1",
                    version,
                )
                if found is None:
                    return None
                files, parsed, parsed_format = found
                self._read = {
                    version: RulebookVersion(
                        version=version,
                        files=json.loads(files) if isinstance(files, str) else files,
                        parsed=parsed,
                        parsed_format=parsed_format,
                    )
                }
            return self._read[version]


OnMessage = Callable[[str, str, RulebookVersion | None], None]
UsePointer = Callable[[ConnectionPointer | None], None]


async def listen(on_message: OnMessage, use_pointer: UsePointer) -> None:
    """Call ``on_message(kind, version, row)`` for every notification, for the life of the
    task; while connected, ``use_pointer`` gets a reader on the listener's connection (and
    ``None`` when it is lost), so neither a swap nor the poll waits for the request pool.

    Returns at once on SQLite. Reconnects after a lost connection (polling covers the gap)."""
    client = _postgres()
    if client is None:
        return
    while True:
        try:
            conn = await asyncpg.connect(
                host=client.host,
                port=client.port,
                user=client.user,
                password=client.password,
                database=client.database,
                server_settings=client.server_settings,
                **{k: v for k, v in client.extra.items() if k not in _POOL_ONLY},
            )
        except Exception as exc:  # the poll keeps working meanwhile
            log.warning("rulebook listener cannot connect (%s): polling only", type(exc).__name__)
            await asyncio.sleep(RECONNECT_S)
            continue
        try:
            await _serve(conn, on_message, use_pointer)
            log.warning("rulebook listener lost its connection: reconnecting")
        finally:
            use_pointer(None)
            with contextlib.suppress(Exception):
                await conn.close()


async def _serve(conn: Any, on_message: OnMessage, use_pointer: UsePointer) -> None:
    """Listen on ``conn`` until it is lost."""
    lost = asyncio.Event()
    pending: set[asyncio.Task[None]] = set()
    pointer = ConnectionPointer(conn)

    async def deliver(payload: str) -> None:
        kind, _, version = payload.partition(":")
        row = None
        try:
            row = await pointer.stored(version)
        except Exception as exc:  # the engine reads it through the pool instead
            log.warning("rulebook listener cannot read %s (%s)", version[:12], exc)
        on_message(kind, version, row)

    def received(_c: object, _pid: int, _channel: str, payload: str) -> None:
        task = asyncio.get_running_loop().create_task(deliver(payload))
        pending.add(task)
        task.add_done_callback(pending.discard)

    conn.add_termination_listener(lambda _c: lost.set())
    await conn.add_listener(CHANNEL, received)
    use_pointer(pointer)
    await lost.wait()
