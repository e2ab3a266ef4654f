"""Every console page works under its Content-Security-Policy (N6): it loads, runs its
scripts, connects its socket, and the browser refuses nothing (the fixture `closes_its_pages`
fails a test whose pages reported a violation)."""

from __future__ import annotations

import json

from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import Browser

from plug2support.accounts.models import User
from plug2support.contacts.models import CustomerOrg
from plug2support.conversations.models import Conversation
from plug2support.knowledge.models import Article

from ..conftest import PASSWORD, Tenant
from ..test_two_factor import totp


def a_conversation(tenant: Tenant) -> Conversation:
    client = Client()
    key = tenant.widget.key
    token = client.post(f"/widget/api/{key}/session", "{}",
                        content_type="application/json").json()["token"]
    client.post(f"/widget/api/{key}/messages",
                json.dumps({"client_id": "m-1", "body": "Hello, https://example.com"}),
                content_type="application/json", headers={"Authorization": f"Bearer {token}"})
    return Conversation.objects.get(widget=tenant.widget)


def test_every_console_page_runs_under_its_content_security_policy(
        browser: Browser, live: str, tenants: tuple[Tenant, Tenant]) -> None:
    acme, _ = tenants
    conversation = a_conversation(acme)
    org = CustomerOrg.objects.create(company=acme.company, name="Big Co", domain="bigco.example")
    article = Article.objects.create(company=acme.company, title="Grinding",
                                     body="Grind **fine**.", body_html="<p>Grind fine.</p>")
    User.objects.filter(pk=acme.owner.pk).update(is_staff=True, is_superuser=True)

    # The back office needs a session that passed two-factor (N5): the code step, in the page.
    device = TOTPDevice.objects.create(user=acme.owner, name="authenticator", confirmed=True)
    page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    page.goto(f"{live}/accounts/login/")
    page.fill("input[name=username]", acme.owner.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live}/accounts/login/code/")
    page.fill("#code", totp(device.key))
    page.click("button[type=submit]")
    page.wait_for_url(f"{live}/inbox/")
    page.wait_for_selector("#live.open")  # the inbox's socket connected ('self' covers ws:)
    for path in ["/inbox/", f"/inbox/{conversation.pk}/", "/tickets/", "/visitors/",
                 "/customers/", f"/customers/orgs/{org.pk}/", "/settings/widgets/",
                 "/settings/widgets/new/", f"/settings/widgets/{acme.widget.pk}/",
                 "/settings/routing/", "/articles/", "/articles/new/",
                 f"/articles/{article.pk}/", "/billing/", "/team/", "/notifications/",
                 "/settings/saved-replies/", "/settings/alerts/",
                 "/admin/", "/admin/accounts/user/",
                 f"/admin/accounts/user/{acme.owner.pk}/change/", "/admin/axes/accessattempt/"]:
        response = page.goto(f"{live}{path}")
        assert response is not None and response.status == 200, path
        page.wait_for_load_state("networkidle")
    # The conversation page's scripts ran: the visitor's message is in the thread.
    page.goto(f"{live}/inbox/{conversation.pk}/")
    page.get_by_text("Hello, https://example.com").first.wait_for()
    # The widget settings page's preview frame (framed by the console: frame-ancestors 'self').
    page.goto(f"{live}/settings/widgets/{acme.widget.pk}/")
    preview = next(f for f in page.frames if f.url.endswith("/preview"))
    preview.wait_for_load_state("networkidle")

    anonymous = browser.new_context().new_page()
    for path in ["/", "/accounts/login/", "/signup/", "/accounts/password-reset/",
                 "/admin/login/"]:
        response = anonymous.goto(f"{live}{path}")
        assert response is not None and response.status == 200, path
    anonymous.goto(f"{live}/accounts/login/")
    anonymous.fill("input[name=username]", acme.operators[0].email)
    anonymous.fill("input[name=password]", PASSWORD)
    anonymous.click("button[type=submit]")
    anonymous.wait_for_url(f"{live}/inbox/")
