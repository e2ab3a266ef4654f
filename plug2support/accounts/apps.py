from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "plug2support.accounts"
    label = "accounts"

    def ready(self) -> None:
        from . import sessions  # noqa: F401  (its user_logged_in receiver records logins)
