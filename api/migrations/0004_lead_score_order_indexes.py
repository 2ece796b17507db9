from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0003_stage_entry_times')]

    initial = False

    operations = [
        ops.AddIndex(
            model_name='Lead',
            index=Index(fields=['fit_score', 'id']),
        ),
        ops.AddIndex(
            model_name='Lead',
            index=Index(fields=['engagement_score', 'id']),
        ),
    ]
