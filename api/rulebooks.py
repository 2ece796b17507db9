"""Rulebook versions: every rulebook the service runs is stored, immutable, by content hash."""

from __future__ import annotations

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from api.models import RulebookVersion
from rules import Rulebook, read_rulebook_files


async def record_rulebook(rulebook: Rulebook, *, published_by: str = "startup") -> RulebookVersion:
    """Store the rulebook's files under its version (once) and make it the active one."""
    async with in_transaction():
        row = await RulebookVersion.get_or_none(version=rulebook.version)
        if row is None:
            files = {
                path: data.decode("utf-8")
                for path, data in read_rulebook_files(rulebook.root).items()
            }
            try:
                async with in_transaction():
                    row = await RulebookVersion.create(
                        version=rulebook.version, files=files, published_by=published_by
                    )
            except IntegrityError:  # another worker stored it first
                row = await RulebookVersion.get(version=rulebook.version)
        await RulebookVersion.filter(active=True).exclude(id=row.id).update(active=False)
        if not row.active:
            row.active = True
            await row.save(update_fields=["active"])
        return row
