"""When an unaccepted handoff moves on (``sla.escalation``): after wall-clock hours, or after
hours of the current owner's working time (``clock: business``, rules/worktime.py)."""

from __future__ import annotations

from datetime import datetime, timedelta

from rules import worktime
from rules.worktime import Calendar


def escalate_at(hours: float, clock: str, cal: Calendar | None, start: datetime) -> datetime:
    """``start`` plus ``hours`` on the rule's clock; the wall clock when the owner has no
    working time left for years (or there is no owner)."""
    if clock == "business" and cal is not None:
        at = worktime.add_working_time(cal, start, hours)
        if at is not None:
            return at
    return start + timedelta(hours=hours)
