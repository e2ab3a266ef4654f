from django.apps import AppConfig


class PushConfig(AppConfig):
    name = "plug2support.push"
    label = "push"
