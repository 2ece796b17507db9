from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0017_issue10_lifecycle')]

    initial = False

    operations = [
        ops.AddField(
            model_name='RulebookVersion',
            name='parsed',
            field=fields.BinaryField(null=True),
        ),
        ops.AddField(
            model_name='RulebookVersion',
            name='parsed_format',
            field=fields.CharField(null=True, max_length=64),
        ),
    ]
