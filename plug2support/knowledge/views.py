"""Help articles (G1): the console's list and editor, the search operators use to insert a
link into a reply, the widget's search and reading (public, per widget, when its Search is
on), and the public page an article link opens."""

from __future__ import annotations

import html

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.html import strip_tags
from django.views.decorators.http import require_GET

from plug2support.accounts.access import membership_required
from plug2support.accounts.models import Membership
from plug2support.lib.ratelimit import hit
from plug2support.widgets.fastpath import KEY  # a NUL in the path would fail PostgreSQL
from plug2support.widgets.models import Widget

from .actions import do_delete_article, do_save_article
from .forms import ArticleForm
from .models import Article, ArticleStatus
from .search import QUERY_MAX, published, search_articles

SEARCHES_PER_MINUTE = 300  # per client IP: one per keystroke, with room


def public_url(widget_key: str, article: Article) -> str:
    return f"{settings.PUBLIC_URL}/help/{widget_key}/{article.pk}/"


def excerpt(article: Article, length: int = 140) -> str:
    """The article's first words as plain text (from its rendered HTML: no Markdown marks)."""
    text = " ".join(html.unescape(strip_tags(article.body_html)).split())
    return text if len(text) <= length else text[:length].rsplit(" ", 1)[0] + "…"


@membership_required()
def article_list(request: HttpRequest, membership: Membership) -> HttpResponse:
    articles = Article.objects.filter(company_id=membership.company_id).select_related(
        "category")
    return render(request, "knowledge/list.html", {"articles": articles})


@membership_required(admin=True)
def article_edit(request: HttpRequest, membership: Membership,
                 article_id: int | None = None) -> HttpResponse:
    article = None
    if article_id is not None:
        article = get_object_or_404(Article, pk=article_id, company_id=membership.company_id)
    if request.method == "POST" and "delete" in request.POST and article is not None:
        do_delete_article(article)
        messages.success(request, f"“{article.title}” deleted.")
        return redirect("articles")
    form = ArticleForm(request.POST or None, instance=article,
                       company_id=membership.company_id)
    if request.method == "POST" and form.is_valid():
        article = do_save_article(membership, form)
        messages.success(request, "Article saved" + (
            " and published." if article.status == ArticleStatus.PUBLISHED else " as a draft."))
        return redirect("article_edit", article_id=article.pk)
    return render(request, "knowledge/edit.html", {"form": form, "article": article})


@require_GET
@membership_required()
def article_search(request: HttpRequest, membership: Membership) -> JsonResponse:
    """For the composer's "insert an article link": published articles, with the address a
    visitor can open (through the company's first widget)."""
    widget = Widget.objects.filter(company_id=membership.company_id).order_by("pk").first()
    found = search_articles(membership.company_id, request.GET.get("q", ""))
    return JsonResponse({"articles": [
        {"id": a.pk, "title": a.title,
         "url": public_url(widget.key, a) if widget else ""} for a in found]})


# --- public: the widget's search and reading ------------------------------------------------

def _search_widget(key: str) -> Widget:
    widget = Widget.objects.filter(key=key).first() if KEY.fullmatch(key) else None
    if widget is None or not widget.search_enabled:
        raise Http404("No help articles here.")
    return widget


def _error(code: str, message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)


@require_GET
def widget_articles(request: HttpRequest, key: str) -> JsonResponse:
    try:
        widget = _search_widget(key)
    except Http404:
        return _error("search_off", "This widget has no article search.", 404)
    q = request.GET.get("q", "")
    if len(q) > QUERY_MAX:
        return _error("query_too_long", f"A search is at most {QUERY_MAX} characters.", 400)
    if not hit(f"article-search:{request.META.get('REMOTE_ADDR', '')}", SEARCHES_PER_MINUTE,
               60):
        return _error("rate_limited", "Too many searches; please wait a moment.", 429)
    found = search_articles(widget.company_id, q)
    return JsonResponse({"articles": [
        {"id": a.pk, "title": a.title, "category": a.category.name if a.category else None,
         "excerpt": excerpt(a)} for a in found]})


@require_GET
def widget_article(request: HttpRequest, key: str, article_id: int) -> JsonResponse:
    try:
        widget = _search_widget(key)
    except Http404:
        return _error("search_off", "This widget has no article search.", 404)
    article = published(widget.company_id).filter(pk=article_id).select_related(
        "category").first()
    if article is None:
        return _error("not_found", "No such article.", 404)
    return JsonResponse({"id": article.pk, "title": article.title,
                         "category": article.category.name if article.category else None,
                         "html": article.body_html, "url": public_url(widget.key, article)})


def help_page(request: HttpRequest, key: str, article_id: int) -> HttpResponse:
    """The page an article link in a chat message opens: published articles only."""
    widget = (Widget.objects.filter(key=key).select_related("company").first()
              if KEY.fullmatch(key) else None)
    if widget is None:
        raise Http404("No such article.")
    article = published(widget.company_id).filter(pk=article_id).first()
    if article is None:
        raise Http404("No such article.")
    response = render(request, "knowledge/public.html", {"article": article,
                                                         "company": widget.company})
    response["Content-Security-Policy"] = ("default-src 'none'; img-src https: data:; "
                                           "style-src 'self'; base-uri 'none'")
    return response
