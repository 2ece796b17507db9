from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0011_issue10_shadow')]

    initial = False

    operations = [
        ops.CreateModel(
            name='RepAbsence',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('rep', fields.ForeignKeyField('models.SalesRep', source_field='rep_id', db_constraint=True, to_field='id', related_name='absences', on_delete=OnDelete.CASCADE)),
                ('starts_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('ends_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('note', fields.CharField(default='', max_length=500)),
                ('set_by', fields.CharField(max_length=200)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'rep_absence', 'app': 'models', 'indexes': [Index(fields=['rep_id', 'ends_at'])], 'pk_attr': 'id', 'table_description': 'An out-of-office period of a rep, ``[starts_at, ends_at)``: routing skips them then.'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='SalesRep',
            name='holiday_country',
            field=fields.CharField(null=True, max_length=3),
        ),
        ops.AddField(
            model_name='SalesRep',
            name='holiday_subdivision',
            field=fields.CharField(null=True, max_length=10),
        ),
        ops.AddField(
            model_name='SalesRep',
            name='time_zone',
            field=fields.CharField(null=True, max_length=64),
        ),
        ops.AddField(
            model_name='SalesRep',
            name='working_hours',
            field=fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
    ]
