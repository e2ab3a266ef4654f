"""The only code that changes saved replies (SPEC M1): check_* validates, do_* writes.

Who manages what: owners and admins the company's replies, every member their own. Each write
locks the company's row first, so the count limit and the shortcut checks (a personal
shortcut may not take a company one's, a company one may not take anyone's personal one)
hold under concurrent saves; the unique constraints back them up."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.files import File
from django.db import IntegrityError, transaction
from django.db.models import F

from plug2support.accounts.models import Company, Membership
from plug2support.attachments.actions import do_upload_for_member
from plug2support.conversations.models import Conversation
from plug2support.lib.errors import Refused
from plug2support.lib.uploads import AttachmentError, check_upload

from .models import SavedReply, SavedReplyFile
from .variables import fill, unknown_variables, values_for

TITLE_MAX = 100
SHORTCUT_MAX = 32
REPLIES_PER_COMPANY = 500  # the company's and all its members' own, together
FILES_PER_REPLY = 5
_SHORTCUT = re.compile(r"[a-z0-9_-]+")

COMPANY, PERSONAL = "company", "personal"


class ReplyError(Refused):
    """A refused saved reply; `field` names the form field it is about (None: the whole)."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(code, message)
        self.field = field


@dataclass(frozen=True)
class Used:
    text: str
    attachment_ids: list[int]


# --- checks ----------------------------------------------------------------------------------

def check_may_manage(membership: Membership, scope: str) -> None:
    if scope == COMPANY and not membership.is_admin:
        raise ReplyError("forbidden", "Only owners and admins manage the company's replies.")


def check_title(title: object) -> str:
    if not isinstance(title, str) or not title.strip():
        raise ReplyError("invalid_title", "Give the reply a title.", "title")
    title = " ".join(title.replace("\x00", "").split())
    if not title:
        raise ReplyError("invalid_title", "Give the reply a title.", "title")
    if len(title) > TITLE_MAX:
        raise ReplyError("invalid_title", f"A title is at most {TITLE_MAX} characters.", "title")
    return title


def check_shortcut(shortcut: object) -> str:
    """Lower case, without the `/` one types before it."""
    if not isinstance(shortcut, str):
        raise ReplyError("invalid_shortcut", "Give the reply a shortcut.", "shortcut")
    shortcut = shortcut.strip().removeprefix("/").lower()
    if not shortcut:
        raise ReplyError("invalid_shortcut", "Give the reply a shortcut.", "shortcut")
    if len(shortcut) > SHORTCUT_MAX or not _SHORTCUT.fullmatch(shortcut):
        raise ReplyError("invalid_shortcut", f"A shortcut is 1 to {SHORTCUT_MAX} of a–z, 0–9, "
                         "- and _ (no spaces).", "shortcut")
    return shortcut


def check_body(body: object) -> str:
    if isinstance(body, str):
        body = body.replace("\x00", "").strip()  # PostgreSQL keeps no NUL in text
    if not isinstance(body, str) or not body:
        raise ReplyError("invalid_body", "Write the reply's text.", "body")
    limit = settings.MESSAGE_MAX_CHARS
    if len(body) > limit:
        raise ReplyError("invalid_body", f"A reply is at most {limit} characters, as a "
                         "message is.", "body")
    unknown = unknown_variables(body)
    if unknown:
        names = ", ".join(name or "(empty)" for name in unknown)
        raise ReplyError("unknown_variable", f"Unknown variable {names}. The variables are "
                         "{{contact.name}}, {{contact.email}}, {{operator.name}} and "
                         "{{company.name}}.", "body")
    return body


def check_shortcut_free(company_id: int, owner_id: int | None, shortcut: str, *,
                        exclude_pk: int | None = None) -> None:
    """Free among what anyone who would see the reply already sees."""
    taken = SavedReply.objects.filter(company_id=company_id, shortcut=shortcut)
    if exclude_pk is not None:
        taken = taken.exclude(pk=exclude_pk)
    if taken.filter(owner=None).exists():
        raise ReplyError("shortcut_taken", f"The shortcut /{shortcut} is taken by one of the "
                         "company's replies.", "shortcut")
    if owner_id is not None and taken.filter(owner_id=owner_id).exists():
        raise ReplyError("shortcut_taken", f"The shortcut /{shortcut} is taken by one of your "
                         "replies.", "shortcut")
    if owner_id is None and taken.exists():
        raise ReplyError("shortcut_taken", f"The shortcut /{shortcut} is taken by a teammate's "
                         "own reply.", "shortcut")


def _check_files(files: Iterable[Any], kept: int) -> list[Any]:
    files = list(files)
    if kept + len(files) > FILES_PER_REPLY:
        raise ReplyError("too_many_files", f"A reply carries at most {FILES_PER_REPLY} files.",
                         "new_files")
    return files


# --- writes ----------------------------------------------------------------------------------

def _lock_company(company_id: int) -> None:
    Company.objects.select_for_update().filter(pk=company_id).values_list("pk").get()


def _store_files(reply: SavedReply, files: list[Any]) -> list[SavedReplyFile]:
    """Each file through the uploads' checks (type from the bytes, size); one refused
    refuses the save (the caller's transaction), and the files stored so far go with it."""
    stored: list[SavedReplyFile] = []
    try:
        for uploaded in files:
            try:
                checked = check_upload(uploaded, getattr(uploaded, "name", ""))
            except AttachmentError as error:
                raise ReplyError(error.code, f"{getattr(uploaded, 'name', 'A file')}: "
                                 f"{error.message}", "new_files") from None
            item = SavedReplyFile(saved_reply=reply, company_id=reply.company_id,
                                  name=checked.name, content_type=checked.content_type,
                                  size=checked.size, sha256=checked.sha256,
                                  is_image=checked.is_image)
            try:
                item.file.save(checked.name, File(checked.content), save=False)
            finally:
                checked.close()
            stored.append(item)
            item.save()
    except BaseException:
        _delete_stored(stored)
        raise
    return stored


def _delete_stored(items: list[SavedReplyFile]) -> None:
    for item in items:
        item.file.delete(save=False)


def _delete_files_after_commit(items: list[SavedReplyFile]) -> None:
    """The files of removed rows, once the removal is committed (a rollback keeps them)."""
    storage = SavedReplyFile._meta.get_field("file").storage  # type: ignore[attr-defined]
    paths = [item.file.name for item in items]

    def delete() -> None:
        for path in paths:
            storage.delete(path)
    transaction.on_commit(delete)


def do_create_saved_reply(membership: Membership, *, scope: object, title: object,
                          shortcut: object, body: object,
                          files: Iterable[Any] = ()) -> SavedReply:
    scope = scope if scope in (COMPANY, PERSONAL) else PERSONAL
    check_may_manage(membership, scope)
    title, shortcut, body = check_title(title), check_shortcut(shortcut), check_body(body)
    uploads = _check_files(files, 0)
    owner_id = None if scope == COMPANY else membership.user_id
    try:
        with transaction.atomic():
            _lock_company(membership.company_id)
            if SavedReply.objects.filter(
                    company_id=membership.company_id).count() >= REPLIES_PER_COMPANY:
                raise ReplyError("too_many_replies", f"A company keeps at most "
                                 f"{REPLIES_PER_COMPANY} saved replies: delete one first.")
            check_shortcut_free(membership.company_id, owner_id, shortcut)
            reply = SavedReply.objects.create(
                company_id=membership.company_id, owner_id=owner_id, title=title,
                shortcut=shortcut, body=body, created_by=membership.user,
                updated_by=membership.user)
            _store_files(reply, uploads)
    except IntegrityError:  # a concurrent save took the shortcut (the constraints)
        raise ReplyError("shortcut_taken", f"The shortcut /{shortcut} is taken.",
                         "shortcut") from None
    return reply


def check_may_change(membership: Membership, reply: SavedReply) -> None:
    """Someone else's own reply is not found, whoever asks (personal means personal)."""
    if reply.company_id != membership.company_id or (
            reply.owner_id is not None and reply.owner_id != membership.user_id):
        raise ReplyError("not_found", "No such saved reply.")
    check_may_manage(membership, reply.scope)


def do_update_saved_reply(membership: Membership, reply: SavedReply, *, title: object,
                          shortcut: object, body: object, files: Iterable[Any] = (),
                          remove_files: Iterable[object] = ()) -> SavedReply:
    """Its title, shortcut, text and files; its scope stays (a personal reply made the
    company's is a new one, made by an admin)."""
    check_may_change(membership, reply)
    title, shortcut, body = check_title(title), check_shortcut(shortcut), check_body(body)
    remove = {int(str(pk)) for pk in remove_files if re.fullmatch(r"[0-9]{1,18}", str(pk))}
    stored: list[SavedReplyFile] = []
    try:
        with transaction.atomic():
            _lock_company(membership.company_id)
            locked = SavedReply.objects.select_for_update().get(pk=reply.pk)
            kept = list(locked.files.all())
            removed = [item for item in kept if item.pk in remove]
            uploads = _check_files(files, len(kept) - len(removed))
            check_shortcut_free(locked.company_id, locked.owner_id, shortcut,
                                exclude_pk=locked.pk)
            locked.title, locked.shortcut, locked.body = title, shortcut, body
            locked.updated_by = membership.user
            locked.save(update_fields=["title", "shortcut", "body", "updated_by",
                                       "updated_at"])
            if removed:
                SavedReplyFile.objects.filter(pk__in=[item.pk for item in removed]).delete()
                _delete_files_after_commit(removed)
            stored = _store_files(locked, uploads)
    except IntegrityError:
        _delete_stored(stored)
        raise ReplyError("shortcut_taken", f"The shortcut /{shortcut} is taken.",
                         "shortcut") from None
    return locked


def do_delete_saved_reply(membership: Membership, reply: SavedReply) -> None:
    check_may_change(membership, reply)
    with transaction.atomic():
        items = list(SavedReplyFile.objects.filter(saved_reply_id=reply.pk))
        SavedReply.objects.filter(pk=reply.pk).delete()
        _delete_files_after_commit(items)


def do_use_saved_reply(membership: Membership, reply: SavedReply,
                       conversation: Conversation) -> Used:
    """The reply's text with its variables filled for this conversation, and each of its
    files copied into a new upload of the operator's (the ids a message or note frame
    carries in `attachments`; unsent, they go with the other unsent uploads within a day).
    Counts one use, in the database (F): two operators at once count two. The caller has
    fetched both through the member's scope (access.py, conversations/access.py)."""
    if reply.company_id != membership.company_id or (
            reply.owner_id is not None and reply.owner_id != membership.user_id) or (
            conversation.company_id != membership.company_id):
        raise ReplyError("not_found", "No such saved reply.")
    company = Company.objects.get(pk=membership.company_id)
    text = fill(reply.body, values_for(conversation, membership.user, company))
    ids = []
    for item in reply.files.all():
        with item.file.open("rb") as opened:
            attachment = do_upload_for_member(membership, File(opened, name=item.name))
        ids.append(attachment.pk)
    SavedReply.objects.filter(pk=reply.pk).update(usage_count=F("usage_count") + 1)
    return Used(text=text, attachment_ids=ids)
