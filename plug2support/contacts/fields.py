"""What the sidebar shows of a contact's custom attributes and notes (M9), one dict for
sidebar.py's `who["fields"]` and for GET /console/contacts/<id>/fields.json."""

from __future__ import annotations

from typing import Any

from .attributes import attribute_rows
from .models import Note


def note_row(note: Note) -> dict[str, Any]:
    return {"id": note.pk, "body": note.body, "created_at": note.created_at.isoformat(),
            "author": {"id": note.author_id,
                       "name": (note.author.name or note.author.email) if note.author
                       else "Former member"}}


def contact_fields(company_id: int, contact_id: int | None,
                   org_id: int | None) -> dict[str, Any]:
    """The company's attributes with this contact's values, and the notes on the contact
    and on its org (newest first); ids of another company's contact or org show nothing."""
    notes = Note.objects.filter(company_id=company_id).select_related("author")
    return {"attributes": attribute_rows(company_id, contact_id),
            "notes": {"contact": [note_row(n) for n in notes.filter(contact_id=contact_id)]
                      if contact_id else [],
                      "org": [note_row(n) for n in notes.filter(org_id=org_id)]
                      if org_id else []}}
