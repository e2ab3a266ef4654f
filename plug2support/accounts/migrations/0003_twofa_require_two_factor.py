from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_membership_last_seen_at_membership_status")]

    operations = [
        migrations.AddField(
            model_name="company",
            name="require_two_factor",
            field=models.BooleanField(default=False),
        ),
    ]
