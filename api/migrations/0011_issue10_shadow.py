from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0010_issue10_rulebook_lifecycle')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ShadowRun',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('candidate_version', fields.CharField(max_length=64)),
                ('cursor', fields.BigIntField(default=0)),
                ('compared', fields.IntField(default=0)),
                ('failed', fields.IntField(default=0)),
                ('started_by', fields.CharField(max_length=200)),
                ('stopped_by', fields.CharField(null=True, max_length=200)),
                ('started_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('stopped_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'shadow_run', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A published candidate evaluated beside the live version, off the request path.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ShadowDisagreement',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('shadow', fields.ForeignKeyField('models.ShadowRun', source_field='shadow_id', db_constraint=True, to_field='id', related_name='disagreements', on_delete=OnDelete.CASCADE)),
                ('lead_id', fields.IntField()),
                ('evaluation_id', fields.IntField()),
                ('kind', fields.CharField(max_length=10)),
                ('live', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('candidate', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'shadow_disagreement', 'app': 'models', 'indexes': [Index(fields=['shadow_id', 'kind'])], 'pk_attr': 'id', 'table_description': 'Where the candidate decided differently from the live version on the same input.'},
            bases=['Model'],
        ),
    ]
