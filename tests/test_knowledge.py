"""Help articles (G1): Markdown rendered safely, drafts kept from visitors, full-text search
as the visitor types from a widget whose Search is on, reading one, the public page, and the
composer's search — each with two companies."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from plug2support.knowledge.markdown import render_markdown
from plug2support.knowledge.models import Article, ArticleStatus
from plug2support.widgets.models import Widget

from .conftest import Tenant, logged_in_client


def write(tenant: Tenant, title: str, body: str, *, published: bool = True) -> Article:
    owner = logged_in_client(tenant.owner)
    response = owner.post("/articles/new/", {
        "title": title, "body": body, "new_category": "Shipping",
        "status": ArticleStatus.PUBLISHED if published else ArticleStatus.DRAFT})
    assert response.status_code == 302, response.content
    return Article.objects.get(company=tenant.company, title=title)


def search_on(tenant: Tenant) -> None:
    Widget.objects.filter(pk=tenant.widget.pk).update(search_enabled=True)


@pytest.mark.parametrize(("markdown", "absent", "present"), [
    ("<script>alert(1)</script>", "<script>", "&lt;script&gt;"),
    ('<img src=x onerror="alert(1)">', "<img", "&lt;img"),
    ("[click](javascript:alert(1))", 'href="javascript', "[click](javascript:alert(1))"),
    ("[ok](https://maple.example/help)", "javascript",
     '<a href="https://maple.example/help" target="_blank" rel="noopener noreferrer">ok</a>'),
    ("**Bold** and `code`", "<script", "<strong>Bold</strong> and <code>code</code>"),
])
def test_markdown_with_raw_html_or_script_is_rendered_safely(markdown: str, absent: str,
                                                              present: str) -> None:
    html = render_markdown(markdown)
    assert absent not in html and present in html


def test_visitors_search_published_articles_of_this_company_as_they_type(
        acme: Tenant, globex: Tenant, client: Client) -> None:
    shipping = write(acme, "Shipping times", "We ship **every weekday** from Lyon.")
    write(acme, "Returns", "Send it back within 30 days.")
    write(acme, "Shipping to Mars", "Not yet.", published=False)  # a draft
    write(globex, "Shipping at Globex", "Globex ships on Fridays.")
    url = f"/widget/api/{acme.widget.key}/articles"
    off = client.get(url, {"q": "ship"})
    assert off.status_code == 404 and off.json()["error"]["code"] == "search_off"
    search_on(acme)
    for typed in ("shi", "ship", "shipping ti", "weekday"):
        found = client.get(url, {"q": typed}).json()["articles"]
        assert [a["title"] for a in found] == ["Shipping times"], typed
    assert found[0]["category"] == "Shipping" and "every weekday" in found[0]["excerpt"]
    assert client.get(url, {"q": ""}).json()["articles"] == []
    assert client.get(url, {"q": "x" * 201}).status_code == 400
    read = client.get(f"{url}/{shipping.pk}").json()
    assert read["title"] == "Shipping times"
    assert "<strong>every weekday</strong>" in read["html"]
    assert read["url"].endswith(f"/help/{acme.widget.key}/{shipping.pk}/")
    draft = Article.objects.get(title="Shipping to Mars")
    theirs = Article.objects.get(title="Shipping at Globex")
    assert client.get(f"{url}/{draft.pk}").status_code == 404
    assert client.get(f"{url}/{theirs.pk}").status_code == 404


def test_a_published_article_has_a_public_page_and_a_draft_does_not(
        acme: Tenant, globex: Tenant, client: Client) -> None:
    article = write(acme, "Shipping times", "We ship <b>daily</b>.")
    page = client.get(f"/help/{acme.widget.key}/{article.pk}/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Shipping times" in text and "&lt;b&gt;daily&lt;/b&gt;" in text
    assert "default-src 'none'" in page["Content-Security-Policy"]
    assert client.get(f"/help/{globex.widget.key}/{article.pk}/").status_code == 404
    Article.objects.filter(pk=article.pk).update(status=ArticleStatus.DRAFT)
    assert client.get(f"/help/{acme.widget.key}/{article.pk}/").status_code == 404


def test_admins_write_articles_operators_read_them_and_other_companies_see_nothing(
        acme: Tenant, globex: Tenant) -> None:
    article = write(acme, "Returns", "Within 30 days.")
    operator = logged_in_client(acme.operators[0])
    assert "Returns" in operator.get("/articles/").content.decode()
    assert operator.get(f"/articles/{article.pk}/").status_code == 403
    assert operator.post("/articles/new/", {"title": "x", "body": "y",
                                            "status": "published"}).status_code == 403
    other = logged_in_client(globex.owner)
    assert "Returns" not in other.get("/articles/").content.decode()
    assert other.get(f"/articles/{article.pk}/").status_code == 404
    assert other.post(f"/articles/{article.pk}/", {"delete": "1"}).status_code == 404
    assert Article.objects.filter(pk=article.pk).exists()
    owner = logged_in_client(acme.owner)
    assert owner.post(f"/articles/{article.pk}/", {"delete": "1"}).status_code == 302
    assert not Article.objects.filter(pk=article.pk).exists()


def test_the_composer_finds_published_articles_with_a_link_visitors_can_open(
        acme: Tenant, globex: Tenant) -> None:
    article = write(acme, "Shipping times", "Every weekday.")
    write(globex, "Shipping at Globex", "Fridays.")
    operator = logged_in_client(acme.operators[0])
    found = operator.get("/articles/search", {"q": "ship"}).json()["articles"]
    assert found == [{"id": article.pk, "title": "Shipping times",
                      "url": f"http://127.0.0.1:8000/help/{acme.widget.key}/{article.pk}/"}]


def test_an_edited_article_is_found_by_its_new_words_only(acme: Tenant,
                                                          client: Client) -> None:
    article = write(acme, "Shipping times", "Every weekday.")
    search_on(acme)
    owner = logged_in_client(acme.owner)
    owner.post(f"/articles/{article.pk}/", {"title": "Delivery times",
                                            "body": "Every morning.", "status": "published"})
    url = f"/widget/api/{acme.widget.key}/articles"
    assert client.get(url, {"q": "shipping"}).json()["articles"] == []
    assert [a["title"] for a in client.get(url, {"q": "morn"}).json()["articles"]] == [
        "Delivery times"]


def test_searches_are_rate_limited_per_address(acme: Tenant, client: Client,
                                               monkeypatch: Any) -> None:
    from plug2support.knowledge import views

    search_on(acme)
    monkeypatch.setattr(views, "SEARCHES_PER_MINUTE", 3)
    url = f"/widget/api/{acme.widget.key}/articles"
    codes = [client.get(url, {"q": "a"}).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
