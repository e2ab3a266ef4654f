"""Visitor.name (widgets 0009) holds its contact's name for the inbox list: filled once
here for the contacts named before it; the contacts actions keep it from then on."""

from typing import Any

from django.db import migrations
from django.db.models import OuterRef, Subquery


def copy_names(apps: Any, schema_editor: Any) -> None:
    visitor_model = apps.get_model("widgets", "Visitor")
    link_model = apps.get_model("contacts", "VisitorContact")
    name = link_model.objects.filter(visitor_id=OuterRef("pk")).values("contact__name")[:1]
    (visitor_model.objects.filter(contact_link__contact__name__gt="")
     .update(name=Subquery(name)))


class Migration(migrations.Migration):

    dependencies = [
        ('contacts', '0003_attrs_attributes_notes'),
        ('widgets', '0009_visitor_country_and_name'),
    ]

    operations = [
        migrations.RunPython(copy_names, migrations.RunPython.noop),
    ]
