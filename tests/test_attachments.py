"""Attachments (C4): type decided by the content, size limit, safe downloads, and access for
two companies on every endpoint."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from plug2support.accounts.models import User
from plug2support.attachments import actions
from plug2support.attachments.models import Attachment
from plug2support.conversations.actions.messages import (
    do_post_operator_message,
    do_post_visitor_message,
)
from plug2support.conversations.actions.teamwork import do_add_note
from plug2support.conversations.actions.visitors import do_identify_visitor
from plug2support.conversations.models import Event
from plug2support.lib.uploads import AttachmentError, check_upload
from plug2support.widgets.models import Visitor

from .conftest import Tenant, logged_in_client

# --- files made here, none on disk ------------------------------------------------------------

def png_bytes() -> bytes:
    """A valid 1×1 red PNG."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels)
            + chunk(b"IEND", b""))


PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
HTML = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"
SVG = (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg">'
       b"<script>alert(document.domain)</script></svg>")


def office_bytes(main_part: str, *, macros: bool = False) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("_rels/.rels", "<Relationships/>")
        archive.writestr(main_part, "<document/>")
        if macros:
            archive.writestr(main_part.split("/")[0] + "/vbaProject.bin", b"\x00macro")
    return buffer.getvalue()


def upload(name: str, content: bytes, claimed: str = "image/png") -> SimpleUploadedFile:
    # The type the browser claims is never believed: tests claim image/png for everything.
    return SimpleUploadedFile(name, content, content_type=claimed)


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Path) -> Path:
    """Uploads go to a temporary folder; tests look there to see what was written."""
    root = tmp_path / "media"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage",
                    "OPTIONS": {"location": str(root)}},
    }
    return root


def files_in(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def visitor_of(tenant: Tenant) -> tuple[Visitor, str]:
    return do_identify_visitor(tenant.widget, None)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def visitor_upload(client: Client, tenant: Tenant, token: str, name: str,
                   content: bytes) -> Any:
    return client.post(f"/widget/api/{tenant.widget.key}/attachments",
                       {"file": upload(name, content)}, headers=bearer(token))


def operator_upload(user: User, name: str, content: bytes) -> Any:
    return logged_in_client(user).post("/attachments/", {"file": upload(name, content)})


def visitor_message_with(visitor: Visitor, attachment_ids: list[int]) -> Event:
    event = do_post_visitor_message(visitor, client_id=f"m{attachment_ids}",
                                    body="See attached").event
    actions.do_attach(attachment_ids, event=event, uploader=visitor)
    return event


# --- accepted, and served safely ------------------------------------------------------------

def test_a_visitors_png_is_accepted_and_served_inline_as_an_image(
        acme: Tenant, client: Client, media: Path) -> None:
    visitor, token = visitor_of(acme)
    response = visitor_upload(client, acme, token, "dot.png", png_bytes())
    assert response.status_code == 201, response.content
    payload = response.json()
    assert payload["name"] == "dot.png"
    assert payload["content_type"] == "image/png"
    assert payload["is_image"] is True
    assert payload["size"] == len(png_bytes())
    assert payload["widget_url"] == f"/widget/api/{acme.widget.key}/attachments/{payload['id']}"

    served = client.get(payload["widget_url"], headers=bearer(token))
    assert served.status_code == 200
    assert served["Content-Type"] == "image/png"
    assert served["Content-Disposition"].startswith("inline")
    assert served["X-Content-Type-Options"] == "nosniff"
    assert served["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert served["Cache-Control"].startswith("private")
    assert b"".join(served.streaming_content) == png_bytes()  # type: ignore[attr-defined]
    # A token in the query string is never a credential (it would be in access logs, N8):
    # an <img> uses a signed link instead (tests/test_attachment_links.py).
    in_query = client.get(f"{payload['widget_url']}?token={token}")
    assert in_query.status_code == 401
    assert in_query.json()["error"]["code"] == "unauthorised"
    # Stored under a random path, not under the uploader's name alone.
    [stored] = files_in(media)
    assert stored.name == "dot.png"
    assert stored.parent.parent.name == str(acme.company.pk)
    assert len(stored.parent.name) == 32


def test_a_pdf_is_served_as_a_download_never_inline(acme: Tenant) -> None:
    operator = logged_in_client(acme.operators[0])
    response = operator.post("/attachments/", {"file": upload("Q3 report.pdf", PDF)})
    assert response.status_code == 201, response.content
    payload = response.json()
    assert payload["content_type"] == "application/pdf" and payload["is_image"] is False
    served = operator.get(payload["url"])
    assert served.status_code == 200
    assert served["Content-Type"] == "application/pdf"
    assert served["Content-Disposition"] == 'attachment; filename="Q3 report.pdf"'
    assert served["Content-Security-Policy"] == "default-src 'none'; sandbox"


def test_text_is_served_as_a_plain_text_download(acme: Tenant) -> None:
    operator = logged_in_client(acme.operators[0])
    payload = operator.post("/attachments/", {"file": upload(
        "notes", "Order 42: <b>late</b>, naïve café\n".encode())}).json()
    assert payload["name"] == "notes.txt"  # the detected type's extension is added
    served = operator.get(payload["url"])
    assert served["Content-Type"] == "text/plain; charset=utf-8"
    assert served["Content-Disposition"].startswith("attachment")


def test_a_non_ascii_name_is_kept_and_sent_back_encoded(acme: Tenant) -> None:
    operator = logged_in_client(acme.operators[0])
    payload = operator.post("/attachments/", {"file": upload("résumé.pdf", PDF)}).json()
    assert payload["name"] == "résumé.pdf"
    served = operator.get(payload["url"])
    assert served["Content-Disposition"] == "attachment; filename*=utf-8''r%C3%A9sum%C3%A9.pdf"


@pytest.mark.parametrize("name,content,content_type", [
    ("photo.jpeg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64, "image/jpeg"),
    ("anim.gif", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "image/gif"),
    ("pic.webp", b"RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00/\x00\x00\x00\x00", "image/webp"),
    ("sales.csv", b"region,total\nnorth,12\n", "text/csv"),
    ("letter.docx", office_bytes("word/document.xml"),
     "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    ("sheet.xlsx", office_bytes("xl/workbook.xml"),
     "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
])
def test_every_allowed_type_is_recognised_by_its_content(
        acme: Tenant, name: str, content: bytes, content_type: str) -> None:
    response = operator_upload(acme.operators[0], name, content)
    assert response.status_code == 201, response.content
    assert response.json()["content_type"] == content_type
    assert response.json()["is_image"] is content_type.startswith("image/")


# --- refused, with the reason, and nothing stored ------------------------------------------

def assert_refused(response: Any, code: str, media: Path) -> str:
    assert response.status_code in (400, 413, 415), response.content
    error = response.json()["error"]
    assert error["code"] == code, error
    assert not Attachment.objects.exists()
    assert files_in(media) == []
    return str(error["message"])


def test_an_html_file_renamed_png_is_refused_as_lying_about_its_type(
        acme: Tenant, client: Client, media: Path) -> None:
    _visitor, token = visitor_of(acme)
    message = assert_refused(visitor_upload(client, acme, token, "cat.png", HTML),
                             "type_mismatch", media)
    assert ".png" in message and "HTML" in message
    assert_refused(operator_upload(acme.operators[0], "cat.png", HTML), "type_mismatch", media)


def test_an_svg_with_a_script_is_refused(acme: Tenant, client: Client, media: Path) -> None:
    _visitor, token = visitor_of(acme)
    message = assert_refused(visitor_upload(client, acme, token, "logo.svg", SVG),
                             "forbidden_type", media)
    assert "SVG" in message and "PNG" in message  # what it is, and what is allowed
    # Without its prolog, with a byte-order mark, or named as text: still markup.
    bare = b"\xef\xbb\xbf  <svg onload='alert(1)'/>"
    assert_refused(operator_upload(acme.operators[0], "logo", bare), "forbidden_type", media)
    assert_refused(operator_upload(acme.operators[0], "logo.txt", SVG), "type_mismatch", media)


@pytest.mark.parametrize("name,content,code", [
    ("page.html", HTML, "forbidden_type"),
    ("notes.txt", b"hello\n<script>alert(1)</script>", "type_mismatch"),
    ("setup.exe", b"MZ\x90\x00\x03" + b"\x00" * 128, "forbidden_type"),
    ("tool", b"\x7fELF\x02\x01\x01" + b"\x00" * 128, "forbidden_type"),
    ("archive.zip", office_bytes("other/thing.xml"), "forbidden_type"),
    ("macros.docx", office_bytes("word/document.xml", macros=True), "type_mismatch"),
    ("dot.exe", png_bytes(), "forbidden_type"),
    ("dot.pdf", png_bytes(), "type_mismatch"),
    ("fake.png", b"\x89PNG but not really", "type_mismatch"),
    ("blob.bin", bytes(range(256)) * 4, "forbidden_type"),
    ("empty.txt", b"", "empty"),
])
def test_forbidden_and_disguised_files_are_refused(
        acme: Tenant, media: Path, name: str, content: bytes, code: str) -> None:
    assert_refused(operator_upload(acme.operators[0], name, content), code, media)


def test_a_too_large_file_is_refused_with_the_limit(
        acme: Tenant, client: Client, media: Path, settings: Any) -> None:
    settings.ATTACHMENT_MAX_BYTES = 1024 * 1024
    _visitor, token = visitor_of(acme)
    just_over = b"a" * (1024 * 1024 + 1)
    message = assert_refused(visitor_upload(client, acme, token, "big.txt", just_over),
                             "too_large", media)
    assert "1 MB" in message
    assert visitor_upload(client, acme, token, "max.txt", just_over[:-1]).status_code == 201


def test_a_body_that_declares_itself_too_large_is_refused_unread(
        acme: Tenant, client: Client, media: Path, settings: Any) -> None:
    settings.ATTACHMENT_MAX_BYTES = 1024 * 1024
    _visitor, token = visitor_of(acme)
    response = client.post(f"/widget/api/{acme.widget.key}/attachments",
                           {"file": upload("big.txt", b"a" * (2 * 1024 * 1024))},
                           headers=bearer(token))
    assert_refused(response, "too_large", media)


class CountingStream:
    def __init__(self, size: int) -> None:
        self.size = size
        self.read_bytes = 0

    def read(self, n: int = -1) -> bytes:
        n = self.size - self.read_bytes if n < 0 else min(n, self.size - self.read_bytes)
        self.read_bytes += n
        return b"a" * n


def test_the_size_check_reads_no_more_than_the_limit_and_one_byte(db: Any) -> None:
    stream = CountingStream(50 * 1024 * 1024)
    with pytest.raises(AttachmentError) as error:
        check_upload(stream, "huge.txt", limit=100_000)
    assert error.value.code == "too_large"
    assert stream.read_bytes == 100_001


def test_a_path_in_the_name_is_dropped(acme: Tenant, media: Path) -> None:
    payload = operator_upload(acme.operators[0], "../../etc/passwd.txt", b"root:x:0:0\n").json()
    assert payload["name"] == "passwd.txt"
    [stored] = files_in(media)
    assert stored.is_relative_to(media / "attachments" / str(acme.company.pk))


def test_the_request_needs_a_file_field(acme: Tenant) -> None:
    response = logged_in_client(acme.operators[0]).post("/attachments/", {"other": "x"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"


# --- access: operators ------------------------------------------------------------------------

def test_another_companys_operator_cannot_download(acme: Tenant, globex: Tenant,
                                                   client: Client) -> None:
    visitor, token = visitor_of(acme)
    payload = visitor_upload(client, acme, token, "dot.png", png_bytes()).json()
    visitor_message_with(visitor, [payload["id"]])
    assert logged_in_client(acme.operators[1]).get(payload["url"]).status_code == 200
    assert logged_in_client(globex.operators[0]).get(payload["url"]).status_code == 404
    assert logged_in_client(globex.owner).get(payload["url"]).status_code == 404


def test_a_visitors_upload_not_yet_sent_is_not_shown_to_operators(acme: Tenant,
                                                                  client: Client) -> None:
    _visitor, token = visitor_of(acme)
    payload = visitor_upload(client, acme, token, "dot.png", png_bytes()).json()
    assert logged_in_client(acme.operators[0]).get(payload["url"]).status_code == 404


def test_an_operators_upload_is_theirs_until_sent(acme: Tenant) -> None:
    payload = operator_upload(acme.operators[0], "r.pdf", PDF).json()
    assert logged_in_client(acme.operators[0]).get(payload["url"]).status_code == 200
    assert logged_in_client(acme.operators[1]).get(payload["url"]).status_code == 404


def test_anonymous_people_cannot_upload_or_download(acme: Tenant, client: Client) -> None:
    payload = operator_upload(acme.operators[0], "r.pdf", PDF).json()
    assert client.get(payload["url"]).status_code == 302  # to the login page
    assert client.post("/attachments/", {"file": upload("r.pdf", PDF)}).status_code == 302
    assert Attachment.objects.count() == 1


def test_the_operator_upload_needs_the_csrf_token(acme: Tenant, media: Path) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(acme.operators[0])
    response = client.post("/attachments/", {"file": upload("r.pdf", PDF)})
    assert response.status_code == 403
    assert not Attachment.objects.exists() and files_in(media) == []


def test_an_operator_cannot_attach_another_companys_upload(acme: Tenant,
                                                           globex: Tenant) -> None:
    theirs = operator_upload(acme.operators[0], "r.pdf", PDF).json()["id"]
    visitor, _ = visitor_of(globex)
    event = do_post_visitor_message(visitor, client_id="g1", body="Hi").event
    # Even the uploader cannot put it in another company's conversation.
    with pytest.raises(AttachmentError) as error:
        actions.do_attach([theirs], event=event, uploader=acme.operators[0])
    assert error.value.code == "not_found"
    with pytest.raises(AttachmentError):
        actions.do_attach([theirs], event=event, uploader=globex.operators[0])
    assert Attachment.objects.get(pk=theirs).conversation_id is None


def test_an_upload_is_attached_once_by_its_uploader_all_or_nothing(acme: Tenant) -> None:
    membership = acme.membership(acme.operators[0])
    mine = operator_upload(acme.operators[0], "a.pdf", PDF).json()["id"]
    colleagues = operator_upload(acme.operators[1], "b.pdf", PDF).json()["id"]
    visitor, _ = visitor_of(acme)
    conversation_id = do_post_visitor_message(
        visitor, client_id="v1", body="Hi").event.conversation_id
    conversation = visitor.conversations.get(pk=conversation_id)
    reply = do_post_operator_message(membership, conversation, client_id="o1",
                                     body="Here").event
    with pytest.raises(AttachmentError) as error:
        actions.check_attach([mine, colleagues], conversation=conversation,
                             uploader=acme.operators[0])
    assert error.value.code == "not_found"
    with pytest.raises(AttachmentError):
        actions.do_attach([mine, colleagues], event=reply, uploader=acme.operators[0])
    assert not Attachment.objects.filter(conversation__isnull=False).exists()

    [attached] = actions.do_attach([mine], event=reply, uploader=acme.operators[0])
    assert attached.conversation_id == conversation.pk and attached.event_id == reply.pk
    with pytest.raises(AttachmentError):  # already sent
        actions.do_attach([mine], event=reply, uploader=acme.operators[0])
    with pytest.raises(AttachmentError) as error:
        actions.do_attach(list(range(1, 20)), event=reply, uploader=acme.operators[0])
    assert error.value.code == "too_many"
    for bad in (["1"], [True], [None], [-1]):
        with pytest.raises(AttachmentError):
            actions.do_attach(bad, event=reply, uploader=acme.operators[0])


def test_a_visitor_attaches_only_their_uploads_to_their_own_conversation(
        acme: Tenant, client: Client) -> None:
    alice, alice_token = visitor_of(acme)
    bob, _ = visitor_of(acme)
    upload_id = visitor_upload(client, acme, alice_token, "dot.png", png_bytes()).json()["id"]
    bobs_event = do_post_visitor_message(bob, client_id="b1", body="Hi").event
    with pytest.raises(AttachmentError):
        actions.do_attach([upload_id], event=bobs_event, uploader=alice)
    with pytest.raises(AttachmentError):
        actions.do_attach([upload_id], event=bobs_event, uploader=bob)
    event = visitor_message_with(alice, [upload_id])
    payloads = actions.attachment_payload(Attachment.objects.get(pk=upload_id))
    assert payloads["id"] == upload_id
    from plug2support.attachments.access import attachments_by_event

    assert attachments_by_event([event.pk]) == {event.pk: [payloads]}


# --- access: visitors -------------------------------------------------------------------------

def test_a_visitor_token_of_another_widget_is_refused(acme: Tenant, globex: Tenant,
                                                      client: Client, media: Path) -> None:
    visitor, token = visitor_of(acme)
    payload = visitor_upload(client, acme, token, "dot.png", png_bytes()).json()
    visitor_message_with(visitor, [payload["id"]])
    response = visitor_upload(client, globex, token, "dot.png", png_bytes())
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorised"
    other_widget_url = f"/widget/api/{globex.widget.key}/attachments/{payload['id']}"
    assert client.get(other_widget_url, headers=bearer(token)).status_code == 401
    # A visitor of the other company, with their own valid token, finds nothing.
    _stranger, stranger_token = visitor_of(globex)
    assert client.get(other_widget_url, headers=bearer(stranger_token)).status_code == 404
    assert client.get(payload["widget_url"], headers=bearer(stranger_token)).status_code == 401
    assert Attachment.objects.count() == 1 and len(files_in(media)) == 1


def test_an_upload_without_a_token_or_with_an_unknown_widget_is_refused(
        acme: Tenant, client: Client) -> None:
    response = client.post(f"/widget/api/{acme.widget.key}/attachments",
                           {"file": upload("dot.png", png_bytes())})
    assert response.status_code == 401
    _visitor, token = visitor_of(acme)
    response = client.post("/widget/api/wk_missing/attachments",
                           {"file": upload("dot.png", png_bytes())}, headers=bearer(token))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "widget_not_found"
    assert not Attachment.objects.exists()


def test_a_visitor_cannot_download_another_visitors_attachment(acme: Tenant,
                                                               client: Client) -> None:
    alice, alice_token = visitor_of(acme)
    _bob, bob_token = visitor_of(acme)
    unsent = visitor_upload(client, acme, alice_token, "a.png", png_bytes()).json()
    sent = visitor_upload(client, acme, alice_token, "b.png", png_bytes()).json()
    visitor_message_with(alice, [sent["id"]])
    for payload in (unsent, sent):
        assert client.get(payload["widget_url"], headers=bearer(alice_token)).status_code == 200
        response = client.get(payload["widget_url"], headers=bearer(bob_token))
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
        assert client.get(f"{payload['widget_url']}?token={bob_token}").status_code == 401


def test_a_visitor_sees_the_teams_files_in_replies_but_never_in_notes_or_unsent(
        acme: Tenant, client: Client) -> None:
    visitor, token = visitor_of(acme)
    conversation_id = do_post_visitor_message(
        visitor, client_id="v1", body="Hi").event.conversation_id
    conversation = visitor.conversations.get(pk=conversation_id)
    membership = acme.membership(acme.operators[0])
    in_reply, in_note, unsent = (operator_upload(acme.operators[0], f"{n}.pdf", PDF).json()["id"]
                                 for n in ("reply", "note", "unsent"))
    reply = do_post_operator_message(membership, conversation, client_id="o1",
                                     body="Here").event
    note = do_add_note(membership, conversation, client_id="n1",
                       body="internal").event
    actions.do_attach([in_reply], event=reply, uploader=acme.operators[0])
    actions.do_attach([in_note], event=note, uploader=acme.operators[0])
    base = f"/widget/api/{acme.widget.key}/attachments"
    assert client.get(f"{base}/{in_reply}", headers=bearer(token)).status_code == 200
    assert client.get(f"{base}/{in_note}", headers=bearer(token)).status_code == 404
    assert client.get(f"{base}/{unsent}", headers=bearer(token)).status_code == 404


# --- housekeeping -------------------------------------------------------------------------

def test_uploads_never_sent_are_removed_with_their_files(acme: Tenant, client: Client,
                                                          media: Path) -> None:
    visitor, token = visitor_of(acme)
    sent = visitor_upload(client, acme, token, "a.png", png_bytes()).json()["id"]
    visitor_upload(client, acme, token, "b.png", png_bytes())
    visitor_message_with(visitor, [sent])
    assert actions.do_delete_unattached(timedelta(hours=1)) == 0  # too recent
    Attachment.objects.update(created_at=timezone.now() - timedelta(days=2))
    assert actions.do_delete_unattached(timedelta(hours=1)) == 1
    assert list(Attachment.objects.values_list("pk", flat=True)) == [sent]
    assert [p.name for p in files_in(media)] == ["a.png"]


def test_visitor_uploads_are_rate_limited(acme: Tenant, client: Client) -> None:
    _visitor, token = visitor_of(acme)
    codes = [visitor_upload(client, acme, token, "n.txt", b"hi\n").status_code
             for _ in range(actions.VISITOR_UPLOADS_PER_WINDOW + 1)]
    assert codes[-1] == 429 and set(codes[:-1]) == {201}
