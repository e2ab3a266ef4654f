"""A saved reply's variables (SPEC M1): `{{contact.name}}`, `{{contact.email}}`,
`{{operator.name}}`, `{{company.name}}`, each with an optional fallback after a bar,
`{{contact.name|there}}`, used when the value is empty.

Anything between `{{` and `}}` (without braces inside) is a variable: a name that is not one
of these is refused when the reply is saved (`unknown_variables`), so a typo never reaches a
customer as `{{contact.nmae}}`. Spaces around the name and the fallback are ignored. A lone
`{{` or `}}` is text."""

from __future__ import annotations

import re
from collections.abc import Mapping

from plug2support.accounts.models import Company, User
from plug2support.contacts.actions import contact_of
from plug2support.conversations.models import Conversation

VARIABLES = ("contact.name", "contact.email", "operator.name", "company.name")
_VARIABLE = re.compile(r"\{\{([^{}]*)\}\}")


def _parts(inner: str) -> tuple[str, str]:
    name, _bar, fallback = inner.partition("|")
    return name.strip(), fallback.strip()


def unknown_variables(body: str) -> list[str]:
    """The names in `body` that are not variables, in order, each once."""
    unknown: list[str] = []
    for match in _VARIABLE.finditer(body):
        name, _fallback = _parts(match.group(1))
        if name not in VARIABLES and name not in unknown:
            unknown.append(name)
    return unknown


def fill(body: str, values: Mapping[str, str]) -> str:
    """`body` with each variable replaced by its value, or its fallback when the value is
    empty (or unknown: a reply saved before a variable was retired still reads)."""
    def replace(match: re.Match[str]) -> str:
        name, fallback = _parts(match.group(1))
        return values.get(name, "").strip() or fallback
    return _VARIABLE.sub(replace, body)


def values_for(conversation: Conversation, operator: User, company: Company) -> dict[str, str]:
    """The variables' values in this conversation: the contact the visitor turned out to be
    (contacts app), else what the visitor gave (an e-mail only: an unnamed visitor's name is
    empty, so the fallback applies), the operator using the reply, their company."""
    visitor = conversation.visitor
    contact = contact_of(visitor)
    return {
        "contact.name": contact.name if contact is not None else "",
        "contact.email": (contact.email if contact is not None and contact.email
                          else visitor.email),
        "operator.name": operator.name,
        "company.name": company.name,
    }
