from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('widgets', '0005_widget_look_and_cards'),
    ]

    operations = [
        migrations.AddField(
            model_name='widget',
            name='require_identity',
            field=models.BooleanField(default=False, verbose_name='require verified identity'),
        ),
    ]
