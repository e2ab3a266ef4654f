"""Support addresses (F1): every company has a default one, made when first needed (the
settings page, the first reply by e-mail, the demo)."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from plug2support.accounts.models import Company
from plug2support.widgets.models import Widget

from .addresses import new_local_part
from .models import SupportAddress


def default_address(company: Company) -> SupportAddress:
    found = SupportAddress.objects.filter(company=company, is_default=True).first()
    if found is not None:
        return found
    widget = Widget.objects.filter(company=company).order_by("pk").first()
    if widget is None:
        raise SupportAddress.DoesNotExist("A support address needs a widget (its inbox).")
    try:
        with transaction.atomic():
            return SupportAddress.objects.create(
                company=company, widget=widget, is_default=True,
                local_part=new_local_part(company.name))
    except IntegrityError:  # made at the same moment elsewhere
        return SupportAddress.objects.get(company=company, is_default=True)
