"""The only code that changes help articles."""

from __future__ import annotations

from django.db import transaction

from plug2support.accounts.models import Membership

from .forms import ArticleForm
from .markdown import render_markdown
from .models import Article, Category


@transaction.atomic
def do_save_article(membership: Membership, form: ArticleForm) -> Article:
    article: Article = form.save(commit=False)
    article.company_id = membership.company_id
    new_category = (form.cleaned_data.get("new_category") or "").strip()
    if new_category:
        article.category, _ = Category.objects.get_or_create(
            company_id=membership.company_id, name=new_category)
    article.body_html = render_markdown(article.body)
    article.save()
    return article


def do_delete_article(article: Article) -> None:
    article.delete()
