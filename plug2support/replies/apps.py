from django.apps import AppConfig


class RepliesConfig(AppConfig):
    name = "plug2support.replies"
    verbose_name = "Saved replies"
