from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0008_issue14_admin_privacy')]

    initial = False

    operations = [
        ops.CreateModel(
            name='IngestedMessage',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('message_id', fields.CharField(unique=True, max_length=200)),
                ('call', fields.CharField(max_length=20)),
                ('status', fields.CharField(max_length=20)),
                ('event', fields.CharField(null=True, max_length=200)),
                ('lead_id', fields.IntField(null=True)),
                ('payload', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('received_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'ingested_message', 'app': 'models', 'indexes': [Index(fields=['status', 'received_at'])], 'pk_attr': 'id', 'table_description': 'A Segment-spec call already handled, by messageId: a replay returns the first result.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='WebhookCursor',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('last_event_id', fields.BigIntField(default=0)),
                ('holes', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'webhook_cursor', 'app': 'models', 'pk_attr': 'id', 'table_description': 'How far the outbox has been fanned out to endpoints (one row), so a restart resumes.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='WebhookEndpoint',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('url', fields.CharField(max_length=2000)),
                ('description', fields.CharField(null=True, max_length=200)),
                ('secret', fields.CharField(max_length=100)),
                ('events', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('owner_ids', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('segments', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('stages', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('active', fields.BooleanField(default=True)),
                ('disabled_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('disabled_reason', fields.CharField(null=True, max_length=200)),
                ('consecutive_failures', fields.IntField(default=0)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'webhook_endpoint', 'app': 'models', 'pk_attr': 'id', 'table_description': 'An HTTP endpoint that receives signed domain events, with filters.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='WebhookDelivery',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('endpoint', fields.ForeignKeyField('models.WebhookEndpoint', source_field='endpoint_id', db_constraint=True, to_field='id', related_name='deliveries', on_delete=OnDelete.CASCADE)),
                ('event_id', fields.BigIntField()),
                ('event_type', fields.CharField(max_length=50)),
                ('payload', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('status', fields.CharField(default='pending', max_length=20)),
                ('attempts', fields.IntField(default=0)),
                ('next_attempt_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('last_status_code', fields.IntField(null=True)),
                ('last_error', fields.CharField(null=True, max_length=500)),
                ('delivered_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'webhook_delivery', 'app': 'models', 'unique_together': (('endpoint_id', 'event_id'),), 'indexes': [Index(fields=['status', 'next_attempt_at']), Index(fields=['endpoint_id', 'created_at'])], 'pk_attr': 'id', 'table_description': 'One event for one endpoint: pending until a 2xx, retried with backoff, then failed.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='WebhookAttempt',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('delivery', fields.ForeignKeyField('models.WebhookDelivery', source_field='delivery_id', db_constraint=True, to_field='id', related_name='attempt_log', on_delete=OnDelete.CASCADE)),
                ('status_code', fields.IntField(null=True)),
                ('error', fields.CharField(null=True, max_length=500)),
                ('duration_ms', fields.FloatField()),
                ('attempted_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'webhook_attempt', 'app': 'models', 'indexes': [Index(fields=['delivery_id', 'attempted_at'])], 'pk_attr': 'id', 'table_description': 'One HTTP attempt of a delivery: the delivery log shows these.'},
            bases=['Model'],
        ),
    ]
