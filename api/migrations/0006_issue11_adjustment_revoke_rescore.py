from tortoise import migrations
from tortoise.migrations import operations as ops
from api.enums import FeedbackKind
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0005_issue9_lean_evaluations')]

    initial = False

    operations = [
        ops.AlterField(
            model_name='Feedback',
            name='kind',
            field=fields.CharEnumField(description='REJECTED: rejected\nDISQUALIFIED: disqualified\nRECYCLED: recycled\nWON: won\nLOST: lost\nCHURNED: churned', enum_type=FeedbackKind, max_length=20),
        ),
        ops.AddField(
            model_name='TargetingAdjustment',
            name='rescored_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='TargetingAdjustment',
            name='revoke_reason',
            field=fields.TextField(null=True, unique=False),
        ),
        ops.AddField(
            model_name='TargetingAdjustment',
            name='revoked_by',
            field=fields.CharField(null=True, max_length=200),
        ),
        # Adjustments that exist already were applied to their leads as they were evaluated: only
        # their later expiry (or revocation) needs a re-score.
        ops.RunSQL(
            ["UPDATE targeting_adjustment SET rescored_at = created_at WHERE rescored_at IS NULL"],
            reverse_sql=ops.RunSQL.noop,  # the column goes away on reverse
        ),
    ]
