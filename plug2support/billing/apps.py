from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "plug2support.billing"
    default_auto_field = "django.db.models.BigAutoField"
