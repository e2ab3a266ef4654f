"""The E-mail settings page's addresses (views.py)."""

from django.urls import path

from . import views

urlpatterns = [
    path("settings/email/", views.email_settings, name="email_settings"),
    path("settings/email/<int:address_id>/", views.address_edit, name="email_address"),
    path("settings/email/<int:address_id>/delete", views.address_delete,
         name="email_address_delete"),
    path("settings/email/<int:address_id>/default", views.address_default,
         name="email_address_default"),
    path("settings/email/<int:address_id>/test", views.send_test, name="email_test"),
    path("settings/email/<int:address_id>/test/status", views.test_status,
         name="email_test_status"),
    path("settings/email/<int:address_id>/mailboxes/new/", views.mailbox_new,
         name="email_mailbox_new"),
    path("settings/email/mailboxes/<int:mailbox_id>/", views.mailbox_edit,
         name="email_mailbox"),
    path("settings/email/mailboxes/<int:mailbox_id>/enabled", views.mailbox_enabled,
         name="email_mailbox_enabled"),
    path("settings/email/mailboxes/<int:mailbox_id>/delete", views.mailbox_delete,
         name="email_mailbox_delete"),
]
