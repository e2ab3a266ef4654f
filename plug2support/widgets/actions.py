"""The only code that changes widgets."""

from __future__ import annotations

from plug2support.accounts.models import Membership

from .forms import WidgetForm
from .models import Widget


def do_save_widget(membership: Membership, form: WidgetForm) -> Widget:
    widget: Widget = form.save(commit=False)
    widget.company_id = membership.company_id
    widget.save()
    return widget
