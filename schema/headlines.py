"""Headlines of stored evaluations, remembered: derived data of immutable records.

A headline depends on the record and on the engine's rulebook version (the near-miss words
come from the active rulebook when the record was decided on it). Erasure rewrites a lead's
stored inputs, so the key also says whether the lead was erased; ids restart on a reset
database, so it holds the record's time too.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime
from typing import Final

from api.engine import RulesEngine
from api.models import Evaluation as EvaluationRow

HeadlineKey = tuple[str, int, int, datetime, bool]
"""Engine version, evaluation id, lead id, its time (ids restart on a reset database), erased."""


class Headlines:
    """A bounded least-recently-used map of headlines (about 200 bytes each)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._items: OrderedDict[HeadlineKey, str] = OrderedDict()

    def get(self, key: HeadlineKey) -> str | None:
        found = self._items.get(key)
        if found is not None:
            self._items.move_to_end(key)
        return found

    def put(self, key: HeadlineKey, headline: str) -> None:
        self._items[key] = headline
        self._items.move_to_end(key)
        while len(self._items) > self.limit:
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()


HEADLINES: Final = Headlines(limit=20_000)


def headline_key(engine: RulesEngine, row: EvaluationRow, *, erased: bool) -> HeadlineKey:
    return (engine.version, row.id, row.lead_id, row.created_at, erased)  # type: ignore[attr-defined]
