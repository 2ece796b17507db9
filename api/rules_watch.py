"""Dev mode: publish and activate LEADGATE_RULES_DIR whenever its files change and validate.

For the edit-save-try loop on a laptop (``LEADGATE_DEV=1 LEADGATE_RULES_WATCH=1`` or ``leadgate
serve --watch-rules``): each save that validates becomes a new active version through the
ordinary publish path (stored, traceable, re-evaluated by a bulk job, swapped live); a save that
does not validate logs every located error and the active version stays. watchfiles (the
watcher uvicorn's reload uses) batches the events of one save.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from watchfiles import Change, awatch

from api.errors import LeadgateError
from api.rulebook_store import RulebookRejected, read_dir
from api.rulebook_versions import Published, active_version, publish_rulebook

log = logging.getLogger("leadgate.rules_watch")

PUBLISHED_BY = "watch"


def _rule_file(change: Change, path: str) -> bool:
    return path.endswith((".yaml", ".yml"))


async def publish_dir(directory: Path, *, why: str) -> Published | None:
    """Publish and activate the folder when it validates and differs from the active version;
    otherwise log why not (every located error) and change nothing."""
    try:
        files = await asyncio.to_thread(read_dir, directory)
        done = await publish_rulebook(
            files=files, note=f"watch: {why}", published_by=PUBLISHED_BY, activate=True
        )
    except RulebookRejected as exc:
        for error in exc.errors:
            log.error("%s/%s", directory, error)
        log.error(
            "%d error(s) in the rulebook %s: the active version %s stays",
            len(exc.errors),
            directory,
            ((await active_version()) or "none")[:12],
        )
        return None
    except LeadgateError as exc:  # e.g. the folder has no rule file left
        log.error("cannot publish %s: %s", directory, exc.message)
        return None
    if done.job is not None:
        log.info("published and activated %s (%s)", done.row.version[:12], why)
    return done


async def watch_rules(
    directory: Path, *, debounce_ms: int = 400, stop: asyncio.Event | None = None
) -> None:
    """Publish the folder now (a change made while the server was down counts), then on every
    change, until cancelled or ``stop`` is set."""
    log.info("watching %s: a change that validates is published and activated", directory)
    await publish_dir(directory, why="folder at start-up")
    async for changes in awatch(
        directory, watch_filter=_rule_file, debounce=debounce_ms, stop_event=stop
    ):
        names = sorted({Path(path).name for _, path in changes})
        await publish_dir(directory, why=f"changed {', '.join(names)}")
