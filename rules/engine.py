"""The thin layer over the durable_rules C extension.

No ``engine.Host`` (background threads race with callers), no Python actions (each costs a JSON
round trip): facts are asserted in one call, then the pending actions of the session are walked
with ``start_action_for_state``/``complete_and_start_action`` reading only the rule name. The
facts are then retracted and the session reused for the next lead, or the session is deleted
(rules/session.py). A catch-all rule guarantees that some action runs, which makes
``delete_state`` safe (DESIGN.md §4). Call from one thread per process.
"""

from __future__ import annotations

import itertools
import json
import os
from typing import Any

import durable_rules_engine as _dre

from rules.errors import EngineError

_names = itertools.count(1)
_sids = itertools.count(1)

FiredAction = tuple[str, str]
"""(engine rule name, raw message JSON of the matched facts)."""


def _engine_call(what: str, fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except _dre.error as exc:
        raise EngineError(f"durable_rules {what} failed: {exc}") from exc


def state_facts(sid: str) -> str:
    """What ``get_facts`` returns for a session that holds only the engine's own state fact
    (the text the C engine writes for it in ``handleMessageCore``, events.c)."""
    return f'[{{ "sid":"{sid}", "id":"sid-{sid}", "$s":1}}]'


class EngineRuleset:
    """One registered ruleset. Its name is versioned and unique per process; ``close`` frees it."""

    def __init__(self, prefix: str, definition: dict[str, Any]) -> None:
        self.name = f"{prefix}_{next(_names)}"
        self._handle: int | None = _engine_call(
            "create_ruleset",
            _dre.create_ruleset,
            self.name,
            json.dumps(definition, ensure_ascii=False),
        )
        self._pid = os.getpid()
        self.state = 0
        """Engine offset of the state node the last ``assert_facts`` went to."""

    def new_sid(self) -> str:
        return f"{self._pid}.{next(_sids)}"

    @property
    def handle(self) -> int:
        if self._handle is None:
            raise EngineError(f"ruleset {self.name} is closed")
        return self._handle

    def assert_facts(self, facts_json: str) -> list[FiredAction]:
        """Assert a JSON array of facts (all with the same sid) and walk what fired."""
        handle = self.handle
        try:
            result = _dre.assert_facts(handle, facts_json)
        except _dre.error as exc:
            raise EngineError(f"durable_rules assert_facts failed: {exc}") from exc
        if result[0] == 2:
            raise EngineError("a fact was asserted twice (MessageObservedException)")
        state = self.state = result[1]
        fired: list[FiredAction] = []
        try:
            started = _dre.start_action_for_state(handle, state)
            if not started:
                return fired
            message: str = started[1]
            complete = _dre.complete_and_start_action
            while message:
                fired.append((message[2 : message.index('"', 2)], message))
                message = complete(handle, state)
        except _dre.error as exc:
            raise EngineError(f"durable_rules action walk failed: {exc}") from exc
        return fired

    def retract_facts(self, facts_json: str) -> None:
        """Retract a JSON array of facts asserted before (same text: the engine's fact id is a
        hash of the content). Facts that matched nothing were never stored: a no-op."""
        _engine_call("retract_facts", _dre.retract_facts, self.handle, facts_json)

    def is_clean(self, sid: str) -> bool:
        """The session holds no fact and no pending action: what a fresh one holds besides the
        engine's own state fact (stored as a fact when the catch-all matches it, see
        rules.compiler.CATCH_ALLS; no other rule tests it and frames never reference it).

        ``get_facts`` walks the 512 buckets of the session's fact index (no per-rule cost);
        ``start_action_for_state`` would return a pending action (then the session is dirty,
        and the caller deletes it)."""
        handle = self.handle
        try:
            facts = _dre.get_facts(handle, sid)
            if facts != "[]" and facts != state_facts(sid):
                return False
            return not _dre.start_action_for_state(handle, self.state)
        except _dre.error as exc:
            raise EngineError(f"durable_rules clean check failed: {exc}") from exc

    def delete(self, sid: str) -> None:
        _engine_call("delete_state", _dre.delete_state, self.handle, sid)

    def close(self) -> None:
        """Free the ruleset (``delete_ruleset``); only when no evaluation is in flight."""
        if self._handle is not None:
            handle, self._handle = self._handle, None
            _engine_call("delete_ruleset", _dre.delete_ruleset, handle)
