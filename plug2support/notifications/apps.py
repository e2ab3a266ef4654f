from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "plug2support.notifications"
    label = "notifications"
