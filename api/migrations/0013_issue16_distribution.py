from tortoise import migrations
from tortoise.migrations import operations as ops
from api.enums import HandoffStatus
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0012_issue16_worktime')]

    initial = False

    operations = [
        ops.CreateModel(
            name='HandoffStep',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('handoff', fields.ForeignKeyField('models.Handoff', source_field='handoff_id', db_constraint=True, to_field='id', related_name='steps', on_delete=OnDelete.CASCADE)),
                ('step', fields.IntField()),
                ('kind', fields.CharField(max_length=20)),
                ('rep', fields.ForeignKeyField('models.SalesRep', source_field='rep_id', null=True, db_constraint=True, to_field='id', related_name='handoff_steps', on_delete=OnDelete.SET_NULL)),
                ('queue', fields.CharField(null=True, max_length=50)),
                ('reason', fields.TextField(unique=False)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'handoff_step', 'app': 'models', 'unique_together': (('handoff_id', 'step'),), 'pk_attr': 'id', 'table_description': 'One owner change of a handoff (first assignment, escalation, fallback) and why.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='RoutingShare',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('route', fields.CharField(max_length=100)),
                ('rep', fields.ForeignKeyField('models.SalesRep', source_field='rep_id', db_constraint=True, to_field='id', related_name='routing_shares', on_delete=OnDelete.CASCADE)),
                ('period', fields.DateField()),
                ('assigned', fields.IntField(default=0)),
                ('entitled', fields.FloatField(default=0.0)),
                ('owed', fields.FloatField(default=0.0)),
                ('extra_day', fields.DateField(null=True)),
                ('extra_count', fields.IntField(default=0)),
            ],
            options={'table': 'routing_share', 'app': 'models', 'unique_together': (('route', 'rep_id', 'period'),), 'indexes': [Index(fields=['period', 'route'])], 'pk_attr': 'id', 'table_description': "Ledger of one rep in one route for one ISO week: assigned vs entitled leads."},
            bases=['Model'],
        ),
        ops.AlterField(
            model_name='Handoff',
            name='status',
            field=fields.CharEnumField(default=HandoffStatus.PENDING, description='PENDING: pending\nACCEPTED: accepted\nREJECTED: rejected\nEXPIRED: expired\nQUEUED: queued', enum_type=HandoffStatus, max_length=20),
        ),
        ops.AddField(
            model_name='Handoff',
            name='escalate_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Handoff',
            name='escalations',
            field=fields.IntField(default=0, db_default=0),
        ),
        ops.AddField(
            model_name='Handoff',
            name='queue',
            field=fields.CharField(null=True, max_length=50),
        ),
        ops.AddField(
            model_name='Handoff',
            name='route',
            field=fields.CharField(null=True, max_length=100),
        ),
        ops.AddIndex(
            model_name='Handoff',
            index=Index(fields=['status', 'escalate_at']),
        ),
    ]
