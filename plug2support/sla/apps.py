from django.apps import AppConfig


class SlaConfig(AppConfig):
    name = "plug2support.sla"
    label = "sla"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The conversations layer below tells its lifecycle registry of each start and stage
        # change (conversations/lifecycle.py); the clocks listen there.
        from plug2support.conversations import lifecycle

        from . import clocks
        from .models import SlaPolicy

        # Our own table name; the company id is bound.
        probe = f"SELECT COUNT(*) FROM (SELECT 1 FROM {SlaPolicy._meta.db_table} "  # noqa: S608
        probe += "WHERE company_id = %s LIMIT 1) sla_any"
        lifecycle.register(on_open=clocks.on_open, on_stage=clocks.on_stage, open_probe=probe)
