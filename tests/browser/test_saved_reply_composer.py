"""A saved reply from the composer (M1, issue 18 point 1): `/` then typing searches the
replies, Enter inserts the chosen one with the contact's name filled in (and the fallback
when there is none), and it is sent like anything typed.

Needs the saved replies backend (plug2support/replies, built beside the composer): it passes
once both are merged."""

from __future__ import annotations

from playwright.sync_api import Browser, expect

from plug2support.contacts.models import Contact, VisitorContact
from plug2support.conversations.models import Event, EventKind
from plug2support.replies.models import SavedReply

from ..conftest import Tenant
from .conftest import screenshot
from .test_composer import open_conversation


def test_slash_then_typing_then_enter_inserts_a_saved_reply_with_the_contacts_name(
        browser: Browser, live: str, tenants: tuple[Tenant, Tenant]) -> None:
    acme, globex = tenants
    SavedReply.objects.create(company=acme.company, title="Thanks for waiting",
                              shortcut="thanks",
                              body="Hi {{contact.name|there}}, thanks for waiting!")
    SavedReply.objects.create(company=acme.company, title="Refund policy", shortcut="refund",
                              body="Refunds take 5 days.")
    SavedReply.objects.create(company=globex.company, title="Thanks from Globex",
                              shortcut="thanksglobex", body="Not Acme's")
    page, conversation = open_conversation(browser, live, acme)
    contact = Contact.objects.create(company=acme.company, name="Dana Scully",
                                     email="dana@example.com")
    VisitorContact.objects.create(visitor=conversation.visitor, contact=contact)

    page.locator("#reply").click()
    page.keyboard.type("/than")
    options = page.locator("#suggestions [role=option]")
    expect(options).to_have_count(1)  # Acme's only: not Globex's, not the refund
    expect(options.first).to_contain_text("Thanks for waiting")
    expect(options.first).to_contain_text("/thanks")
    screenshot(page, "composer-saved-reply")
    page.keyboard.press("Enter")
    expect(page.locator("#reply")).to_have_value("Hi Dana Scully, thanks for waiting!")
    page.keyboard.press("Enter")
    expect(page.locator("#thread .msg.mine").last).to_contain_text(
        "Hi Dana Scully, thanks for waiting!")
    assert list(Event.objects.filter(conversation=conversation, kind=EventKind.MESSAGE,
                                     sender="operator").values_list("body", flat=True)) == [
        "Hi Dana Scully, thanks for waiting!"]
    assert SavedReply.objects.get(shortcut="thanks").usage_count == 1

    # The toolbar's opener (the `/` shortcut's target) opens the same search.
    page.click("#saved-reply-open")
    expect(page.locator("#reply")).to_have_value("/")
    expect(options).to_have_count(2)
    page.keyboard.type("ref")
    expect(options).to_have_count(1)
    page.keyboard.press("Enter")
    expect(page.locator("#reply")).to_have_value("Refunds take 5 days.")
