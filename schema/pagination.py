"""Relay connections over keyset cursors, so deep pages cost the same as the first."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

import strawberry
from tortoise.models import Model
from tortoise.queryset import QuerySet

from api.errors import InvalidInput
from schema.loaders import FirstPages

DEFAULT_PAGE = 20
MAX_PAGE = 100
MAX_ID = 2**31 - 1  # ids are 32-bit integer columns on PostgreSQL

NodeT = TypeVar("NodeT")
RowT = TypeVar("RowT", bound=Model)
Counter = Callable[[], Awaitable[int]]


@strawberry.type(description="Where a page sits in the whole list.")
class PageInfo:
    has_next_page: bool = strawberry.field(description="More items follow endCursor")
    has_previous_page: bool = strawberry.field(description="Items precede startCursor")
    start_cursor: str | None = strawberry.field(description="Cursor of the first edge")
    end_cursor: str | None = strawberry.field(description="Cursor of the last edge")


@strawberry.type(description="One item of a page and the cursor that points at it.")
class Edge(Generic[NodeT]):
    cursor: str = strawberry.field(description="Opaque; pass as `after` to continue")
    node: NodeT = strawberry.field(description="The item")


@strawberry.type(description="A page of items with cursors.")
class Connection(Generic[NodeT]):
    edges: list[Edge[NodeT]] = strawberry.field(description="The items of this page")
    page_info: PageInfo = strawberry.field(description="Cursors and whether more pages exist")
    counter: strawberry.Private[Counter]

    @strawberry.field(description="Items in the whole filtered list, over all pages")
    async def total_count(self) -> int:
        # Counted only when asked for: one COUNT(*) over the same filters as the page.
        return await self.counter()


def page_size(first: int | None) -> int:
    size = DEFAULT_PAGE if first is None else first
    if not 1 <= size <= MAX_PAGE:
        raise InvalidInput(
            f"first must be between 1 and {MAX_PAGE}, got {size}",
            field="first",
            suggestion=f"page through with `after`, {MAX_PAGE} items at a time",
        )
    return size


def encode_cursor(kind: str, key: int | str) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{key}".encode()).decode()


def decode_cursor_key(kind: str, cursor: str) -> str:
    """The key inside a cursor of this kind, or InvalidInput naming ``after``."""
    try:
        found_kind, key = base64.urlsafe_b64decode(cursor.encode()).decode().split(":", 1)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise _bad_cursor(cursor) from exc
    if found_kind != kind:
        raise _bad_cursor(cursor)
    return key


def decode_cursor(kind: str, cursor: str) -> int:
    key = decode_cursor_key(kind, cursor)
    try:
        value = int(key)
    except ValueError as exc:
        raise _bad_cursor(cursor) from exc
    if not 0 <= value <= MAX_ID:
        raise _bad_cursor(cursor)
    return value


def _bad_cursor(cursor: str) -> InvalidInput:
    return InvalidInput(
        f"invalid cursor {cursor!r}", field="after", suggestion="pass an endCursor you got"
    )


def build_connection(
    kind: str,
    rows: Sequence[NodeT],
    keys: Sequence[int | str],
    size: int,
    after: str | None,
    *,
    count: Counter,
) -> Connection[NodeT]:
    """``rows`` were fetched with ``size + 1`` to learn whether another page exists; ``count``
    counts the whole list (the query before its cursor and limit)."""
    edges = [
        Edge(cursor=encode_cursor(kind, key), node=row) for row, key in zip(rows, keys, strict=True)
    ]
    page = edges[:size]
    return Connection(
        edges=page,
        page_info=PageInfo(
            has_next_page=len(edges) > size,
            has_previous_page=after is not None,
            start_cursor=page[0].cursor if page else None,
            end_cursor=page[-1].cursor if page else None,
        ),
        counter=count,
    )


def memory_connection(
    kind: str,
    rows: Sequence[RowT],
    convert: Callable[[RowT], NodeT],
    *,
    first: int | None,
    after: str | None,
) -> Connection[NodeT]:
    """A page over rows already loaded in id order (oldest first), e.g. by a DataLoader."""
    size = page_size(first)
    start = decode_cursor(kind, after) if after is not None else None
    rest = [r for r in rows if start is None or r.pk > start][: size + 1]
    total = len(rows)

    async def count() -> int:
        return total

    return build_connection(
        kind, [convert(r) for r in rest], [r.pk for r in rest], size, after, count=count
    )


async def id_connection(
    kind: str,
    query: QuerySet[RowT],
    convert: Callable[[RowT], NodeT],
    *,
    first: int | None,
    after: str | None,
    newest_first: bool = True,
    batch: tuple[FirstPages[RowT], int] | None = None,
) -> Connection[NodeT]:
    """A keyset page over a filtered query ordered by id: the common case of a growing list.

    ``batch`` (a FirstPages loader ordered the same way, and the parent id) serves first pages
    of a child list for every parent of the enclosing page in two queries in all."""
    size = page_size(first)
    if batch is not None and after is None:
        pages, parent = batch
        rows, total = await pages.loader.load((parent, size + 1))

        async def counted() -> int:
            return total

        return build_connection(
            kind, [convert(r) for r in rows], [r.pk for r in rows], size, None, count=counted
        )
    count = query.count
    query = query.order_by("-id" if newest_first else "id")
    if after is not None:
        last = decode_cursor(kind, after)
        query = query.filter(id__lt=last) if newest_first else query.filter(id__gt=last)
    rows = await query.limit(size + 1)
    return build_connection(
        kind, [convert(r) for r in rows], [r.pk for r in rows], size, after, count=count
    )
