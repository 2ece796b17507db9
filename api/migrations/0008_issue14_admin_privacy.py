from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0007_issue13_idempotency_scope')]

    initial = False

    operations = [
        ops.CreateModel(
            name='AuditEntry',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('actor', fields.CharField(max_length=200)),
                ('action', fields.CharField(max_length=50)),
                ('subject', fields.CharField(description='Global id of what changed', max_length=200)),
                ('details', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'audit_entry', 'app': 'models', 'indexes': [Index(fields=['subject', 'created_at']), Index(fields=['created_at'])], 'pk_attr': 'id', 'table_description': 'Who changed what in the administration surface (reps, campaigns, keys, privacy).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='CampaignCost',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('campaign', fields.ForeignKeyField('models.Campaign', source_field='campaign_id', db_constraint=True, to_field='id', related_name='cost_entries', on_delete=OnDelete.CASCADE)),
                ('amount', fields.DecimalField(max_digits=16, decimal_places=2)),
                ('incurred_on', fields.DateField()),
                ('note', fields.CharField(null=True, max_length=200)),
                ('created_by', fields.CharField(null=True, max_length=200)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'campaign_cost', 'app': 'models', 'indexes': [Index(fields=['incurred_on', 'campaign_id'])], 'pk_attr': 'id', 'table_description': 'Money spent on a campaign on a day: CAC counts it in the period of that day.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ErasureTombstone',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('email_hash', fields.CharField(unique=True, max_length=64)),
                ('erased_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'erasure_tombstone', 'app': 'models', 'pk_attr': 'id', 'table_description': "A hash of an erased person's email, so intake does not silently re-create them."},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Campaign',
            name='budget',
            field=fields.DecimalField(null=True, max_digits=16, decimal_places=2),
        ),
        ops.AddField(
            model_name='Campaign',
            name='closed_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Lead',
            name='erased_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
    ]
