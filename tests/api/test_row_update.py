"""api.row_update: the lead UPDATE without the ORM's save, and sent with its COMMIT.

Both must store what ``Model.save(update_fields=...)`` stores, value for value (the identity
check of evaluateLead's rows, bench/answers_http.py, covers the demo data; these cover the
awkward values), and a fused UPDATE that fails must leave the transaction to the caller."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from starlette.applications import Starlette
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from api.enums import LifecycleStage
from api.models import Lead
from api.row_update import _literal, update_and_commit, update_fields

AT = datetime(2026, 11, 2, 12, 0, 0, 123456, tzinfo=UTC)
FIELDS = ["scores", "fit_score", "engagement_score", "stage", "stage_entered_at", "decision",
          "version", "evaluated_at", "rescore_at", "mql_at", "updated_at"]  # fmt: skip
AWKWARD: list[dict[str, Any]] = [
    {"scores": {"fit": 0.1, "engagement": 1e-300}, "fit_score": 0.1, "engagement_score": 1e-300},
    {"scores": {"it's": 2.5, "back\\slash": -0.0}, "fit_score": 1 / 3, "engagement_score": -0.0},
    {"scores": {"ünï \u2603": 1e300}, "fit_score": 123456789.123456789, "engagement_score": 5e-324},
    {"decision": "d'\\x00'e\\'", "stage": LifecycleStage.MQL, "mql_at": AT, "rescore_at": None},
    {"stage_entered_at": AT + timedelta(microseconds=1), "evaluated_at": AT, "version": 2**31 - 1},
]


def _stored(lead: Lead) -> dict[str, Any]:
    return {f: getattr(lead, f) for f in FIELDS if f != "updated_at"}


async def _pair(changes: dict[str, Any]) -> tuple[Lead, Lead]:
    orm = await Lead.create(email=f"orm{len(str(changes))}@acme.example")
    lean = await Lead.create(email=f"lean{len(str(changes))}@acme.example")
    for lead in (orm, lean):
        lead.update_from_dict(changes)
    return orm, lean


@pytest.mark.parametrize("changes", AWKWARD)
async def test_update_fields_stores_what_the_orm_stores(
    app: Starlette, changes: dict[str, Any]
) -> None:
    orm, lean = await _pair(changes)
    fields = [*changes, "updated_at"]
    await orm.save(update_fields=fields)
    await update_fields(lean, fields)
    assert _stored(await Lead.get(id=lean.id)) == _stored(await Lead.get(id=orm.id))
    assert (await Lead.get(id=lean.id)).updated_at == lean.updated_at  # the clock, as the ORM


@pytest.mark.postgres
@pytest.mark.parametrize("changes", AWKWARD)
async def test_the_update_sent_with_its_commit_stores_what_the_orm_stores(
    app: Starlette, changes: dict[str, Any]
) -> None:
    orm, lean = await _pair(changes)
    fields = [*changes, "updated_at"]
    await orm.save(update_fields=fields)
    async with in_transaction() as connection:
        assert await update_and_commit(lean, fields, connection)
        assert connection._finalized  # nothing left to commit
    stored = await Lead.get(id=lean.id)
    assert _stored(stored) == _stored(await Lead.get(id=orm.id))
    assert stored.updated_at == lean.updated_at


@pytest.mark.postgres
async def test_the_connection_is_usable_after_a_fused_commit(app: Starlette) -> None:
    lead = await Lead.create(email="again@acme.example")
    for version in (2, 3):
        lead.version = version
        async with in_transaction() as connection:
            assert await update_and_commit(lead, ["version", "updated_at"], connection)
        async with in_transaction():  # a pooled connection with no transaction left over
            assert (await Lead.get(id=lead.id)).version == version


@pytest.mark.postgres
async def test_a_failing_fused_update_leaves_the_rollback_to_the_caller(app: Starlette) -> None:
    taken = await Lead.create(email="taken@acme.example")
    lead = await Lead.create(email="free@acme.example")

    async def clash() -> None:
        async with in_transaction() as connection:
            await Lead.filter(id=lead.id).update(version=9)  # rolled back with the failure
            lead.email = taken.email  # unique: the UPDATE fails, its COMMIT is never run
            await update_and_commit(lead, ["email", "updated_at"], connection)

    with pytest.raises(IntegrityError):
        await clash()
    stored = await Lead.get(id=lead.id)
    assert (stored.email, stored.version) == ("free@acme.example", 1)
    async with in_transaction():
        assert await Lead.filter(id=lead.id).count() == 1


async def test_no_fused_commit_where_it_cannot_be_exact(app: Starlette) -> None:
    lead = await Lead.create(email="nested@acme.example")
    lead.version = 5
    async with in_transaction() as outer:
        async with in_transaction() as inner:  # a savepoint (PostgreSQL): not the last word
            assert not await update_and_commit(lead, ["version"], inner)
        if outer.capabilities.dialect != "postgres":
            assert not await update_and_commit(lead, ["version"], outer)
    assert not await update_and_commit(lead, ["version"], object())


def test_literals() -> None:
    assert _literal(None) == "NULL"
    assert _literal(True) == "TRUE"
    assert _literal(7) == "7"
    assert _literal(0.1) == "'0.1'"
    assert _literal(float("nan")) == "'NaN'"
    assert _literal(float("-inf")) == "'-Infinity'"
    assert _literal("a'b\\c") == "E'a''b\\\\c'"
    assert _literal(AT) == "E'2026-11-02T12:00:00.123456+00:00'"
    assert _literal(datetime(2026, 1, 1)) is None  # naive: no exact literal
    assert _literal("nul\x00") is None
    assert _literal(b"bytes") is None
