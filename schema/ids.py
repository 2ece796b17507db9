"""Global ids in arguments: the database id inside, or a user error naming the field."""

from __future__ import annotations

from strawberry import relay

from api.errors import InvalidInput


def node_id(value: relay.GlobalID, type_name: str, field: str) -> int:
    """The database id inside a global id of ``type_name``, or InvalidInput naming ``field``."""
    if value.type_name != type_name:
        raise InvalidInput(f"expected a {type_name} id, got a {value.type_name} id", field=field)
    try:
        return int(value.node_id)
    except ValueError as exc:
        raise InvalidInput(f"malformed {type_name} id", field=field) from exc
