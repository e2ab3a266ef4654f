"""Searching a company's published articles as the visitor types (G1): every word required,
the last one as a prefix; PostgreSQL full-text search, SQLite FTS5 on the embedded default.
Titles first, then by relevance as each database ranks it."""

from __future__ import annotations

import re

from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector
from django.db import connection
from django.db.models import QuerySet
from django.db.models.expressions import RawSQL

from .models import Article, ArticleStatus

WORD = re.compile(r"\w+", re.UNICODE)
QUERY_MAX = 200
RESULTS = 10


def published(company_id: int) -> QuerySet[Article]:
    return Article.objects.filter(company_id=company_id, status=ArticleStatus.PUBLISHED)


def search_articles(company_id: int, q: str, limit: int = RESULTS) -> list[Article]:
    words = WORD.findall(q[:QUERY_MAX])[:12]
    if not words:
        return []
    articles = published(company_id).select_related("category")
    if connection.vendor == "postgresql":
        # Words are \w+ only: no query syntax of the visitor's; the same expression as the
        # index of migration knowledge/0002.
        raw = " & ".join(words[:-1] + [words[-1] + ":*"])
        query = SearchQuery(raw, config="simple", search_type="raw")
        vector = SearchVector(RawSQL("title || ' ' || body", []), config="simple")  # noqa: S611
        found = (articles.annotate(doc=vector).filter(doc=query)
                 .annotate(rank=SearchRank(vector, query)).order_by("-rank", "title"))
        return list(found[:limit])
    terms = " ".join('"' + w.replace('"', '""') + '"' for w in words) + "*"
    matching = RawSQL("SELECT rowid FROM knowledge_article_fts "  # noqa: S611 (bound param)
                      "WHERE knowledge_article_fts MATCH %s", [terms])
    return list(articles.filter(pk__in=matching).order_by("title")[:limit])
