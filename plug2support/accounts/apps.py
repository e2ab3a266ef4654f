from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "plug2support.accounts"
    label = "accounts"
