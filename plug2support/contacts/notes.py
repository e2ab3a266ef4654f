"""Notes operators keep on a contact or a customer org (M9): who wrote them and when; each
person deletes only their own."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied

from plug2support.accounts.models import Membership
from plug2support.lib.text import has_controls

from .models import NOTE_MAX, Contact, CustomerOrg, Note


class NoteError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def check_body(body: object) -> str:
    text = body.strip() if isinstance(body, str) else ""
    # Line feeds and tabs are a note's own; other control characters (NUL) are refused.
    if not text or len(text) > NOTE_MAX or has_controls(text.replace("\n", "")
                                                        .replace("\r", "").replace("\t", "")):
        raise NoteError("bad_note", f"A note is 1 to {NOTE_MAX} characters of text.")
    return text


def do_add_note(membership: Membership, target: Contact | CustomerOrg, body: object) -> Note:
    if target.company_id != membership.company_id:
        raise PermissionDenied("This belongs to another company.")
    text = check_body(body)
    return Note.objects.create(
        company_id=membership.company_id, author_id=membership.user_id, body=text,
        contact=target if isinstance(target, Contact) else None,
        org=target if isinstance(target, CustomerOrg) else None)


def do_delete_note(membership: Membership, note: Note) -> None:
    if note.company_id != membership.company_id or note.author_id != membership.user_id:
        raise PermissionDenied("You can delete only your own notes.")
    note.delete()
