from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index


class Migration(migrations.Migration):
    dependencies = [('models', '0016_issue10_worker')]

    initial = False

    operations = [
        ops.AddField(
            model_name='RulebookActivation',
            name='note',
            field=fields.TextField(null=True, unique=False),
        ),
        ops.AddIndex(
            model_name='RulebookActivation',
            index=Index(fields=['version', 'id']),
        ),
    ]
