"""The audit trail of the administration surface: who changed reps, campaigns, keys and
personal data, when, and how. Entries name their subject by global id, never by personal data,
so erasing a person leaves the trail intact and clean."""

from __future__ import annotations

import base64

from api.models import AuditEntry


def global_id(type_name: str, pk: int | str) -> str:
    """The Relay global id the API shows for a row (``base64("Type:pk")``)."""
    return base64.b64encode(f"{type_name}:{pk}".encode()).decode()


async def record(
    *, actor: str, action: str, type_name: str, pk: int | str, details: dict[str, object]
) -> AuditEntry:
    """Write one entry (inside the caller's transaction, so it exists exactly when the change
    does)."""
    return await AuditEntry.create(
        actor=actor, action=action, subject=global_id(type_name, pk), details=details
    )
