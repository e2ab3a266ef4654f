"""axe-core (WCAG 2.1 A and AA rules) finds nothing on any console page or in the widget, and
the pages fit a 1 366 px screen. axe-core comes bundled in the pinned axe-playwright-python
package (docs/architecture.md): nothing is downloaded at test time."""

from __future__ import annotations

from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect

from plug2support.accounts.models import Invitation, User
from plug2support.contacts.models import CustomerOrg
from plug2support.knowledge.models import Article, ArticleStatus
from plug2support.replies.actions import do_create_saved_reply
from plug2support.widgets.models import Widget

from ..conftest import PASSWORD
from .conftest import login, screenshot
from .test_live_chat import click_launcher, open_widget

WCAG_AA = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
           "resultTypes": ["violations"]}
AXE = Axe()


def violations(target: Any) -> list[str]:
    """Each violation as "rule: the elements", readable in a failed assertion."""
    target.evaluate(AXE.axe_script)
    result = target.evaluate("(options) => axe.run(document, options)", WCAG_AA)
    return [f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']]}"
            for v in result["violations"]]


CONSOLE_PAGES = ["/inbox/", "/visitors/", "/settings/widgets/", "/settings/widgets/new/",
                 "/settings/routing/", "/settings/email/", "/tickets/", "/customers/", "/articles/",
                 "/articles/new/", "/billing/", "/notifications/", "/team/",
                 "/settings/saved-replies/", "/settings/alerts/", "/reports/",
                 "/settings/service-targets/"]


def test_every_console_page_has_no_wcag_aa_violation(browser: Browser, demo: Any,
                                                     live: str) -> None:
    tenant, site_url = demo
    owner = login(browser, live, tenant.owner.email)
    expect(owner.locator("#live")).to_have_text("live")
    _page, frame = open_widget(browser, site_url)
    frame.fill("#body", "Hello, a question about the grinder")
    frame.press("#body", "Enter")
    owner.locator(".conv", has_text="a question about the grinder").click()
    owner.click("#claim")
    owner.fill("#reply", "Happy to help")
    owner.press("#reply", "Enter")
    expect(owner.locator("#thread .receipt")).to_be_visible()
    found = {"a conversation": violations(owner)}
    article = Article.objects.create(company=tenant.company, title="Descaling the grinder",
                                     body="Once a month.", body_html="<p>Once a month.</p>",
                                     status=ArticleStatus.PUBLISHED)
    org = CustomerOrg.objects.create(company=tenant.company, name="Acme", domain="acme.test")
    reply = do_create_saved_reply(tenant.membership(tenant.owner), scope="company",
                                  title="Greeting", shortcut="hello",
                                  body="Hi {{contact.name|there}}!")
    pages_with_ids = [f"/settings/widgets/{tenant.widget.pk}/", f"/articles/{article.pk}/",
                      f"/customers/orgs/{org.pk}/", f"/settings/saved-replies/{reply.pk}/"]
    for path in [*CONSOLE_PAGES, *pages_with_ids]:
        response = owner.goto(f"{live}{path}")
        assert response is not None and response.status == 200, path
        owner.wait_for_load_state("networkidle")
        found[path] = violations(owner)
    # The public help page a visitor opens from the widget's search.
    response = owner.goto(f"{live}/help/{tenant.widget.key}/{article.pk}/")
    assert response is not None and response.status == 200
    found["the help page"] = violations(owner)
    assert {page: v for page, v in found.items() if v} == {}


def test_the_login_and_sign_up_pages_have_no_wcag_aa_violation(browser: Browser,
                                                               live: str) -> None:
    page = browser.new_context(viewport={"width": 1366, "height": 800}).new_page()
    found = {}
    for path in ["/accounts/login/", "/signup/", "/accounts/password-reset/",
                 "/accounts/password-reset/sent/", "/accounts/reset/done/"]:
        response = page.goto(f"{live}{path}")
        assert response is not None and response.status == 200, path
        found[path] = violations(page)
    assert {p: v for p, v in found.items() if v} == {}


def test_the_invitation_and_no_company_pages_have_no_wcag_aa_violation(
        browser: Browser, demo: Any, live: str) -> None:
    tenant, _site_url = demo
    invitation = Invitation.objects.create(company=tenant.company, email="new@maple.test",
                                           invited_by=tenant.owner)
    page = browser.new_context(viewport={"width": 1366, "height": 800}).new_page()
    response = page.goto(f"{live}/invitations/{invitation.token}/")
    assert response is not None and response.status == 200
    found = {"an invitation": violations(page)}
    User.objects.create_user(email="alone@nowhere.test", password=PASSWORD, name="Alone")
    page.goto(f"{live}/accounts/login/")
    page.fill("input[name=username]", "alone@nowhere.test")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live}/accounts/no-company/")
    found["no company"] = violations(page)
    assert {p: v for p, v in found.items() if v} == {}


@pytest.mark.parametrize("appearance", ["light", "dark"])
def test_the_widget_closed_and_open_has_no_wcag_aa_violation(
        browser: Browser, demo: Any, live: str, appearance: str) -> None:
    tenant, site_url = demo
    Widget.objects.filter(pk=tenant.widget.pk).update(appearance=appearance, search_enabled=True)
    login(browser, live, tenant.operators[0].email)  # someone online: the live chat
    page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    page.goto(site_url)
    page.wait_for_function("() => document.querySelector('[data-plug2support]') !== null")
    assert violations(page) == []  # the customer's page with the closed launcher
    frame = click_launcher(page)
    frame.wait_for_selector("#status:text('We reply as soon as we can')")
    frame.fill("#body", "Hello")
    frame.press("#body", "Enter")
    expect(frame.locator(".msg.mine:not(.pending)")).to_be_visible()
    assert violations(frame) == []


def check_fits(page: Page, selector: str) -> None:
    overflow = page.locator(selector).evaluate(
        "(el) => el.scrollWidth - el.clientWidth")
    assert overflow <= 0, f"{selector} overflows its box by {overflow} px"


def test_the_widget_settings_page_fits_a_laptop_and_a_phone(browser: Browser, demo: Any,
                                                            live: str) -> None:
    tenant, _site_url = demo
    for name, width, height in [("desktop", 1366, 768), ("phone", 390, 844)]:
        context = browser.new_context(viewport={"width": width, "height": height})
        page = context.new_page()
        page.goto(f"{live}/accounts/login/")
        page.fill("input[name=username]", tenant.owner.email)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{live}/inbox/")
        page.goto(f"{live}/settings/widgets/{tenant.widget.pk}/")
        check_fits(page, ".card.hours")
        page.locator(".card.hours").scroll_into_view_if_needed()
        screenshot(page, f"widget-settings-hours-{name}")
        context.close()
