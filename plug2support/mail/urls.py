"""The providers' inbound webhooks (webhooks.py): the URL each provider is given."""

from django.urls import path

from .webhooks import receive

urlpatterns = [
    path("mail/inbound/mailgun/", receive, {"provider": "mailgun"}, name="mail_inbound_mailgun"),
    # Mailgun posts the raw message (`body-mime`) only to a URL ending in "mime".
    path("mail/inbound/mailgun/mime/", receive, {"provider": "mailgun"},
         name="mail_inbound_mailgun_mime"),
    path("mail/inbound/postmark/", receive, {"provider": "postmark"},
         name="mail_inbound_postmark"),
    path("mail/inbound/sendgrid/", receive, {"provider": "sendgrid"},
         name="mail_inbound_sendgrid"),
    path("mail/inbound/amazon_ses/", receive, {"provider": "amazon_ses"},
         name="mail_inbound_amazon_ses"),
    path("mail/inbound/brevo/", receive, {"provider": "brevo"}, name="mail_inbound_brevo"),
]
