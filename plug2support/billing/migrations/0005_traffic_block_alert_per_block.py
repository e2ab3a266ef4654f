from django.db import migrations


def key_current_blocks_by_their_moment(apps, schema_editor):  # type: ignore[no-untyped-def]
    """Traffic-block alerts were keyed by the billing period; they are now keyed by the
    moment the counter went over the limit (one per block). The alert of a block still in
    force gets that key, so the next daily update does not announce the same block again."""
    alert = apps.get_model("billing", "Alert")
    subscription = apps.get_model("billing", "Subscription")
    for sub in subscription.objects.filter(traffic_blocked_period__isnull=False,
                                           over_limit_since__isnull=False):
        alert.objects.filter(company_id=sub.company_id, cause="traffic_blocked",
                             period=sub.traffic_blocked_period).update(
            period=sub.over_limit_since)


class Migration(migrations.Migration):

    dependencies = [
        ('billing', '0004_daily_update_mark'),
    ]

    operations = [
        migrations.RunPython(key_current_blocks_by_their_moment, migrations.RunPython.noop),
    ]
