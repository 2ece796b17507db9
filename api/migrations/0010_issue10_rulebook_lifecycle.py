from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from api.enums import JobStatus
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0009_issue15_integrations')]

    initial = False

    operations = [
        ops.CreateModel(
            name='BulkJob',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('kind', fields.CharField(max_length=20)),
                ('rulebook_version', fields.CharField(max_length=64)),
                ('lead_filter', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('status', fields.CharEnumField(default=JobStatus.PENDING, description='PENDING: pending\nRUNNING: running\nDONE: done\nFAILED: failed\nCANCELLED: cancelled', enum_type=JobStatus, max_length=20)),
                ('total', fields.IntField(default=0)),
                ('created_by', fields.CharField(max_length=200)),
                ('error', fields.TextField(null=True, unique=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('started_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('finished_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'bulk_job', 'app': 'models', 'indexes': [Index(fields=['status', 'id'])], 'pk_attr': 'id', 'table_description': 'A re-evaluation of many leads with one rulebook version, split into resumable chunks.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='BulkJobChunk',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('job', fields.ForeignKeyField('models.BulkJob', source_field='job_id', db_constraint=True, to_field='id', related_name='chunks', on_delete=OnDelete.CASCADE)),
                ('first_lead_id', fields.IntField()),
                ('last_lead_id', fields.IntField()),
                ('cursor', fields.IntField()),
                ('total', fields.IntField()),
                ('processed', fields.IntField(default=0)),
                ('attempted', fields.IntField(default=0)),
                ('evaluated', fields.IntField(default=0)),
                ('moved', fields.IntField(default=0)),
                ('handoffs', fields.IntField(default=0)),
                ('skipped', fields.IntField(default=0)),
                ('failed', fields.IntField(default=0)),
                ('status', fields.CharEnumField(default=JobStatus.PENDING, description='PENDING: pending\nRUNNING: running\nDONE: done\nFAILED: failed\nCANCELLED: cancelled', enum_type=JobStatus, max_length=20)),
                ('claimed_by', fields.CharField(null=True, max_length=200)),
                ('heartbeat_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'bulk_job_chunk', 'app': 'models', 'indexes': [Index(fields=['job_id', 'status'])], 'pk_attr': 'id', 'table_description': 'A range of lead ids of a job. ``cursor`` is the last lead id whose batch committed.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='RulebookActivation',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('version', fields.CharField(max_length=64)),
                ('previous_version', fields.CharField(null=True, max_length=64)),
                ('activated_by', fields.CharField(max_length=200)),
                ('activated_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'rulebook_activation', 'app': 'models', 'indexes': [Index(fields=['activated_at'])], 'pk_attr': 'id', 'table_description': 'Every switch of the active rulebook: which version, from which, who, when.'},
            bases=['Model'],
        ),
    ]
