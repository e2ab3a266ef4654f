from django.apps import AppConfig


class ConversationsConfig(AppConfig):
    name = "plug2support.conversations"
    label = "conversations"
