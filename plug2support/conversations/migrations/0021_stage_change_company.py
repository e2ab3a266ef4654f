"""StageChange.company and the conversations' (company, created_at) index (K5): the conversation's company copied onto each change, filled for
the rows already there, then required, with the (company, at) index the reports read."""

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def fill(apps, schema_editor):
    StageChange = apps.get_model("conversations", "StageChange")
    Conversation = apps.get_model("conversations", "Conversation")
    StageChange.objects.update(company=Subquery(
        Conversation.objects.filter(pk=OuterRef("conversation_id")).values("company_id")[:1]))


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0004_merge_profile_twofa"),
        ("conversations", "0020_sla_summary"),
    ]

    operations = [
        migrations.AddField(
            model_name="stagechange",
            name="company",
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.CASCADE,
                                    related_name="+", to="accounts.company"),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="stagechange",
            name="company",
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE,
                                    related_name="+", to="accounts.company"),
        ),
        migrations.AddIndex(
            model_name="conversation",
            index=models.Index(fields=["company", "created_at"], name="conv_company_created"),
        ),
        migrations.AddIndex(
            model_name="stagechange",
            index=models.Index(fields=["company", "at"], name="stage_change_company_at"),
        ),
    ]
