"""Which visitor a widget client opens (N7): its stored token, weighed against the identity
the site vouches for (B6) with the widget's hello or the HTTP session.

A browser is shared by whoever uses it; only the site knows who is logged in now. So a
visitor that belongs to a verified contact opens only with that contact's proven identity:
a token of user A presented with B's identity, or with none, gets a new visitor (A's token
keeps working for A). A proven identity is then applied to the visitor like `identify`.
"""

from __future__ import annotations

from dataclasses import dataclass

from plug2support.contacts.actions import (
    Proof,
    check_proof,
    do_identify,
    verified_user_of,
)
from plug2support.contacts.identity import IdentityError
from plug2support.contacts.models import Contact
from plug2support.widgets.cache import widget_for_hello
from plug2support.widgets.hours import Schedule
from plug2support.widgets.models import Visitor, Widget, hash_token

from .actions.started import do_accept_invite
from .actions.visitors import do_identify_visitor, do_link_site_visitor


@dataclass(frozen=True)
class Opened:
    visitor: Visitor
    token: str
    # The site user id proven for this client (the visitor's verified contact), or None.
    proven: str | None
    contact: Contact | None
    # The identity given was refused (the client goes on unidentified): why.
    refused: IdentityError | None

    @property
    def may_read(self) -> bool:
        """Whether this client may read and write the visitor's conversations (a widget
        requiring identity refuses the unidentified)."""
        return self.proven is not None or not self.visitor.widget.require_identity


def _belongs_to_another(visitor: Visitor, proven: str | None) -> bool:
    bound = verified_user_of(visitor)
    return bound is not None and bound != proven


def do_open_visitor(widget: Widget, token: str | None, *, identity: object = None,
                    invite: object = None, ip: str = "") -> Opened:
    """The visitor this client is: the token's when it may open it, else a new one; with the
    invite redeemed (the socket's hello) and the proven identity applied. A refused identity
    leaves the client unidentified (`refused` says why); a new visitor counts against the
    address's new-visitor limit (ConversationError rate_limited)."""
    proof: Proof | None = None
    refused = None
    if identity is not None:
        try:
            proof = check_proof(widget, identity)
        except IdentityError as error:
            refused = error
    proven = proof.user_id if proof else None
    own = Visitor.objects.filter(widget=widget, token_hash=hash_token(token)).first() \
        if token else None
    if own is not None and _belongs_to_another(own, proven):
        own = token = None  # another person's visitor: this client starts afresh
    opened = do_accept_invite(widget, invite, token, proven=proven)
    if opened is None and own is not None:
        own.widget = widget  # callers (the socket) read it without a query
        opened = own, token or ""
    if opened is None:
        opened = do_identify_visitor(widget, None, ip=ip)
    visitor, token = opened
    contact = None
    if proof is not None:
        contact = do_identify(visitor, user_id=proof.user_id, user_hash=proof.user_hash,
                              email=proof.email, name=proof.name,
                              attributes=proof.attributes,
                              attributes_hash=proof.attributes_hash)
    return Opened(visitor, token, proven, contact, refused)


def do_open_for_hello(key: object, token: object, *, identity: object, invite: object,
                      vid: object, ip: str) -> tuple[Opened, Schedule] | None:
    """The widget socket's hello: the visitor of the widget with this key (do_open_visitor),
    linked to the loader's site visitor `vid`, and the widget's business hours; None when no
    widget has this key."""
    found = widget_for_hello(key) if isinstance(key, str) else None
    if found is None:
        return None
    widget, schedule = found
    opened = do_open_visitor(widget, token if isinstance(token, str) else None,
                             identity=identity, invite=invite, ip=ip)
    do_link_site_visitor(opened.visitor, vid)
    return opened, schedule
