from django.apps import AppConfig


class MailConfig(AppConfig):
    name = "plug2support.mail"
    label = "mail"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The team's replies to e-mail conversations leave through this app's outbox; the
        # conversations layer below asks through its channels registry (conversations/channels.py).
        from plug2support.conversations import channels

        from . import outbox

        channels.register_reply_sender(outbox.queue_reply)
