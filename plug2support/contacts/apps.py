from django.apps import AppConfig


class ContactsConfig(AppConfig):
    name = "plug2support.contacts"
    label = "contacts"
    verbose_name = "Contacts and customer orgs"
