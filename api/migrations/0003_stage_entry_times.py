from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index


class Migration(migrations.Migration):
    dependencies = [('models', '0002_metrics_activity_occurred_at_index')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Lead',
            name='stage_entered_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='LeadStageChange',
            name='entered_from_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddIndex(
            model_name='LeadStageChange',
            index=Index(fields=['from_stage', 'changed_at', 'applied', 'entered_from_at']),
        ),
        # Existing rows: a change entered its from_stage at the lead's previous applied change
        # (or at the lead's creation), and a lead entered its stage at its last applied change.
        ops.RunSQL(
            [
                "UPDATE lead_stage_change SET entered_from_at = COALESCE("
                "(SELECT MAX(p.changed_at) FROM lead_stage_change p "
                "WHERE p.lead_id = lead_stage_change.lead_id AND p.applied "
                "AND (p.changed_at < lead_stage_change.changed_at "
                "OR (p.changed_at = lead_stage_change.changed_at "
                "AND p.id < lead_stage_change.id))), "
                "(SELECT l.created_at FROM lead l WHERE l.id = lead_stage_change.lead_id)) "
                "WHERE entered_from_at IS NULL",
                "UPDATE lead SET stage_entered_at = (SELECT MAX(c.changed_at) "
                "FROM lead_stage_change c WHERE c.lead_id = lead.id AND c.applied) "
                "WHERE stage_entered_at IS NULL",
            ],
            reverse_sql=ops.RunSQL.noop,  # the columns go away on reverse
        ),
    ]
