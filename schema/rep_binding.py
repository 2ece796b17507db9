"""Rep binding, enforced in one place: a key bound to a sales rep acts only on that rep's leads,
handoffs and deals, and assigns work only to that rep, on every mutation.

The check reads the global ids in a mutation's arguments (wherever they sit in the input), so a
new mutation that takes a lead, handoff, deal or owner id is covered without code of its own.
The role check (schema/permissions.py) decides *which fields* a key may use and refuses the
whole request; this one decides *which objects*, and answers the payload's ``userErrors`` with
``permission_denied`` naming the field (docs/graphql.md, "Authorization").
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from graphql import (
    GraphQLError,
    GraphQLID,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLResolveInfo,
    get_named_type,
)
from graphql.language import OperationType
from strawberry import relay
from tortoise.models import Model

from api import handoffs as handoff_service
from api.auth import Principal
from api.errors import PermissionDenied
from api.models import Deal, Handoff, Lead
from schema.input_guard import BadInput, payload_with_error

OWNED: dict[str, type[Model]] = {"Lead": Lead, "Handoff": Handoff, "Deal": Deal}
"""Node types whose rows carry the rep that owns them in ``owner_id``."""


def _ids(
    value: object, kind: GraphQLInputType, path: list[str]
) -> Iterator[tuple[str, int, list[str]]]:
    """(type name, database id, argument path) of every global id in an argument value."""
    named = get_named_type(kind)
    if isinstance(named, GraphQLInputObjectType) and isinstance(value, dict):
        for key, child in value.items():
            if (field := named.fields.get(key)) is not None:
                yield from _ids(child, field.type, [*path, key])
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _ids(item, kind, [*path, str(index)])
    elif named is GraphQLID and isinstance(value, str | relay.GlobalID):
        try:
            gid = relay.GlobalID.from_id(str(value))
            yield gid.type_name, int(gid.node_id), path
        except Exception:  # malformed: the input guard has answered already
            return


async def foreign_object(rep_id: int, ids: list[tuple[str, int, list[str]]]) -> BadInput | None:
    """The first id that names another rep's object (or assigns to another rep), or None."""
    for type_name, db_id, path in ids:
        owner: object = db_id
        if (model := OWNED.get(type_name)) is not None:
            rows = await model.filter(id=db_id).values_list("owner_id", flat=True)
            if not rows:
                continue  # missing: the mutation answers not_found
            owner = rows[0]
        elif type_name != "SalesRep":
            continue
        if owner != rep_id and not (
            type_name == "Handoff" and await handoff_service.left_to_service(db_id, rep_id)
        ):
            return BadInput(
                f"this key is bound to another sales rep: it may not act on {type_name} "
                f"{db_id} ({'/'.join(path)})",
                path,
                "use the key of the rep who owns it, or an admin key",
            )
    return None


class RepBinding:
    """Refuses a bound sales key's mutation on another rep's lead, handoff or deal (wrapped
    around the root resolvers by :func:`schema.root_guards.guard_root_fields`)."""

    def resolve(
        self,
        _next: Callable[..., Any],
        root: object,
        info: GraphQLResolveInfo[Any],
        *args: object,
        **kwargs: object,
    ) -> object:
        principal: Principal | None = getattr(info.context, "principal", None)
        if (
            info.path.prev is not None
            or principal is None
            or principal.rep_id is None
            or info.operation.operation is not OperationType.MUTATION
        ):
            return _next(root, info, *args, **kwargs)
        field = info.parent_type.fields.get(info.field_name)
        if field is None:  # __type, __schema, __typename
            return _next(root, info, *args, **kwargs)
        ids = [
            found
            for name, value in kwargs.items()
            if (argument := field.args.get(name)) is not None
            for found in _ids(value, argument.type, [name])
        ]
        return self._checked(principal.rep_id, ids, _next, root, info, args, kwargs)

    async def _checked(
        self,
        rep_id: int,
        ids: list[tuple[str, int, list[str]]],
        _next: Callable[..., Any],
        root: object,
        info: GraphQLResolveInfo[Any],
        args: tuple[object, ...],
        kwargs: dict[str, object],
    ) -> object:
        problem = await foreign_object(rep_id, ids)
        if problem is None:
            result = _next(root, info, *args, **kwargs)
            return await result if isinstance(result, Awaitable) else result
        denied = PermissionDenied(problem.message, field=problem.field)
        payload = payload_with_error(info, denied, problem.path)
        if payload is not None:
            return payload
        raise GraphQLError(denied.message, extensions={"code": denied.code, "field": problem.path})
