from django.apps import AppConfig


class SatisfactionConfig(AppConfig):
    name = "plug2support.satisfaction"
    label = "satisfaction"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The stage writer below asks through its resolutions registry
        # (conversations/resolutions.py); the resolution mail is composed here for the mail
        # app's outbox (mail/outbox.register_composer). Imported here: apps.py is read
        # before the models are.
        from plug2support.conversations import resolutions
        from plug2support.conversations.models import EventKind
        from plug2support.mail import outbox

        from . import asking

        resolutions.register_resolution_listener(asking.on_resolved)
        outbox.register_composer(EventKind.RATING_ASKED, asking.compose_resolution_mail)
