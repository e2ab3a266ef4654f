from django.apps import AppConfig


class KnowledgeConfig(AppConfig):
    """Help articles (G1)."""

    name = "plug2support.knowledge"
    default_auto_field = "django.db.models.BigAutoField"
