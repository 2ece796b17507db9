"""Issue 13: idempotency keys are scoped per API key: a ``scope`` column, unique with
(operation, key) instead of (operation, key) alone.

SQLite keeps the old constraint inside the table definition (it cannot be dropped), so there
the table is rebuilt without it; PostgreSQL drops it by name.
"""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops
from tortoise.migrations.constraints import UniqueConstraint

OLD = "uid_idempotency_operati_c67fb4"


async def _drop_old_unique(apps, editor) -> None:  # type: ignore[no-untyped-def]
    client = editor.client
    if editor.DIALECT == "sqlite":
        _, rows = await client.execute_query(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'idempotency_record'"
        )
        old_sql = rows[0]["sql"]
        new_sql = old_sql.replace(f',\n    CONSTRAINT "{OLD}" UNIQUE ("operation", "key")', "")
        if new_sql == old_sql:
            return
        columns = '"id", "scope", "key", "operation", "request_hash", "response", "created_at"'
        await client.execute_script(
            new_sql.replace('"idempotency_record"', '"idempotency_record_new"', 1)
            + f";INSERT INTO idempotency_record_new ({columns}) "
            f"SELECT {columns} FROM idempotency_record;"
            "DROP TABLE idempotency_record;"
            "ALTER TABLE idempotency_record_new RENAME TO idempotency_record;"
        )
    else:
        await client.execute_script(f'ALTER TABLE idempotency_record DROP CONSTRAINT IF EXISTS "{OLD}"')


class Migration(migrations.Migration):
    dependencies = [('models', '0006_issue11_adjustment_revoke_rescore')]

    initial = False

    operations = [
        ops.AddField(
            model_name="IdempotencyRecord",
            name="scope",
            field=fields.CharField(default="", db_default="", max_length=64),
        ),
        ops.RunPython(_drop_old_unique, ops.RunPython.noop),
        ops.AlterModelOptions(
            name="IdempotencyRecord",
            options={
                "table": "idempotency_record",
                "app": "models",
                "unique_together": (("scope", "operation", "key"),),
                "pk_attr": "id",
                "table_description": (
                    "The first result of a trigger mutation, replayed for the same key and input."
                ),
            },
        ),
        ops.AddConstraint(
            model_name="IdempotencyRecord",
            constraint=UniqueConstraint(fields=("scope", "operation", "key"), name=None),
        ),
    ]
