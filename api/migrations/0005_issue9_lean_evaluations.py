from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index


class Migration(migrations.Migration):
    dependencies = [('models', '0004_lead_score_order_indexes')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Evaluation',
            name='next_change_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.RemoveField(model_name='Evaluation', name='failed'),
        ops.AddField(
            model_name='Lead',
            name='decision',
            field=fields.CharField(null=True, max_length=32),
        ),
        ops.AddField(
            model_name='Lead',
            name='evaluated_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Lead',
            name='last_evaluation_id',
            field=fields.IntField(null=True),
        ),
        ops.AddField(
            model_name='Lead',
            name='rescore_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddIndex(
            model_name='Lead',
            index=Index(fields=['rescore_at']),
        ),
        # Existing leads point at their newest evaluation (list pages read it by id). Their
        # decision and rescore time stay unknown until the next `leadgate evaluate`.
        ops.RunSQL(
            [
                "UPDATE lead SET last_evaluation_id = (SELECT MAX(e.id) FROM evaluation e "
                "WHERE e.lead_id = lead.id) WHERE last_evaluation_id IS NULL",
            ],
            reverse_sql=ops.RunSQL.noop,
        ),
    ]
