"""Help articles in a real browser (G1): a visitor searches the company's articles from the
widget as they type and reads one inside it; an operator inserts an article's link into a
reply from the composer."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import Browser, expect

from plug2support.knowledge.markdown import render_markdown
from plug2support.knowledge.models import Article, ArticleStatus
from plug2support.widgets.models import Widget

from .conftest import login, screenshot
from .test_live_chat import open_widget


def publish(tenant: Any, title: str, body: str) -> Article:
    return Article.objects.create(company=tenant.company, title=title, body=body,
                                  body_html=render_markdown(body),
                                  status=ArticleStatus.PUBLISHED)


def test_a_visitor_searches_an_article_from_the_widget_and_reads_it(
        browser: Browser, demo: Any, live: str) -> None:
    tenant, site_url = demo
    Widget.objects.filter(pk=tenant.widget.pk).update(search_enabled=True)
    publish(tenant, "Grind sizes for every brewer",
            "Use a **fine** grind for espresso and a coarse one for the French press.\n\n"
            "<script>document.title = 'pwned'</script>")
    publish(tenant, "Shipping times", "We ship every Tuesday.")
    login(browser, live, tenant.operators[0].email)
    page, frame = open_widget(browser, site_url)
    frame.fill("#search-q", "grin")  # as typed, before the word is complete
    result = frame.locator("#results button")
    expect(result).to_have_count(1)
    expect(result.locator("strong")).to_have_text("Grind sizes for every brewer")
    result.click()
    expect(frame.locator("#article-title")).to_have_text("Grind sizes for every brewer")
    expect(frame.locator("#article-body strong")).to_have_text("fine")
    expect(frame.locator("#article-body")).to_contain_text("<script>")  # shown as text
    assert page.title() != "pwned"
    screenshot(page, "widget-article")
    frame.locator("#article").press("Escape")  # back to the home, search kept
    expect(frame.locator("#article")).to_be_hidden()
    expect(frame.locator("#search-q")).to_be_focused()
    frame.fill("#search-q", "nothing like this")
    expect(frame.locator("#results .none")).to_be_visible()
    # Mid-conversation the search stays at hand.
    frame.fill("#body", "Which grind for a moka pot?")
    frame.press("#body", "Enter")
    expect(frame.locator(".msg.mine p")).to_have_text("Which grind for a moka pot?")
    expect(frame.locator("#search-q")).to_be_visible()


def test_an_operator_inserts_an_article_link_into_a_reply(
        browser: Browser, demo: Any, live: str) -> None:
    tenant, site_url = demo
    article = publish(tenant, "Shipping times", "We ship every Tuesday.")
    alice = login(browser, live, tenant.operators[0].email)
    _, frame = open_widget(browser, site_url)
    frame.fill("#body", "When do you ship?")
    frame.press("#body", "Enter")
    alice.locator(".conv").first.click()
    alice.click("#insert-article")
    alice.fill("#article-q", "ship")
    alice.locator("#article-results button", has_text="Shipping times").click()
    expect(alice.locator("#reply")).to_have_value(
        re.compile(rf"^Shipping times: http://\S+/help/{tenant.widget.key}/{article.pk}/$"))
    value = alice.locator("#reply").input_value()
    alice.press("#reply", "Enter")
    link = frame.locator(".msg.theirs a")
    expect(link).to_have_attribute("href", value.removeprefix("Shipping times: "))
