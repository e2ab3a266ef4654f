from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "plug2support.realtime"
    label = "realtime"
