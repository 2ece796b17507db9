"""The base of every model in ``api.models``: tortoise's ``Model`` without its source scan.

For each model class tortoise reads the class's source to find ``#:`` field comments (we write
none). On Python 3.11 ``inspect.getsource`` parses the whole module once per class, which was
about half of ``import api.models`` in every process: each CLI command, server and engine worker.
"""

from __future__ import annotations

from typing import Any

from tortoise.models import Model as OrmModel
from tortoise.models import ModelMeta


class _NoCommentScan(ModelMeta):
    """Sets tortoise's own ``_no_comments`` switch on every model class it creates."""

    def __new__(cls, name: str, bases: tuple[type, ...], attrs: dict[str, Any]) -> ModelMeta:
        attrs.setdefault("_no_comments", True)
        return super().__new__(cls, name, bases, attrs)


class Model(OrmModel, metaclass=_NoCommentScan):
    class Meta:
        abstract = True
