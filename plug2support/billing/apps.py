from __future__ import annotations

from typing import TYPE_CHECKING

from django.apps import AppConfig

if TYPE_CHECKING:
    from plug2support.accounts.models import Company


class BillingConfig(AppConfig):
    name = "plug2support.billing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The layers below billing ask accounts.policies; billing answers (its docstring).
        # Imported here: apps.py is read before the models are, and these need them.
        from plug2support.accounts import policies

        from .access import communication_block, subscription_of
        from .actions import BillingError, check_invite_allowed

        def invite_allowed(company: Company) -> None:
            try:
                check_invite_allowed(company)
            except BillingError as error:
                raise policies.InviteRefused(str(error)) from None

        def company_created(company_id: int) -> None:
            subscription_of(company_id)  # H1: on Free, its periods anchored at its creation

        policies.register(policies.Policies(
            communication_block=communication_block, check_invite_allowed=invite_allowed,
            company_created=company_created))
