from django.apps import AppConfig


class AttachmentsConfig(AppConfig):
    name = "plug2support.attachments"
    label = "attachments"
