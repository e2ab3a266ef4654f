from django.apps import AppConfig


class WidgetsConfig(AppConfig):
    name = "plug2support.widgets"
    label = "widgets"
