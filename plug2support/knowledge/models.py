"""Help articles (G1): written by a company in Markdown, drafts and published ones, in
categories; visitors search the published ones from the widget when its Search is on."""

from __future__ import annotations

from django.db import models

from plug2support.accounts.models import Company


class Category(models.Model):
    company = models.ForeignKey(Company, on_delete=models.CASCADE,
                                related_name="article_categories")
    name = models.CharField(max_length=80)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "categories"
        constraints = [models.UniqueConstraint(fields=["company", "name"],
                                               name="one_category_name_per_company")]

    def __str__(self) -> str:
        return self.name


class ArticleStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    PUBLISHED = "published", "Published"


class Article(models.Model):
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="articles")
    category = models.ForeignKey(Category, on_delete=models.SET_NULL, null=True, blank=True,
                                 related_name="articles")
    title = models.CharField(max_length=150)
    body = models.TextField(help_text="Markdown.")
    # The body rendered and sanitised when saved (knowledge/markdown.py): read often, written
    # rarely.
    body_html = models.TextField(blank=True, default="")
    status = models.CharField(max_length=10, choices=ArticleStatus.choices,
                              default=ArticleStatus.DRAFT)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title"]
        indexes = [models.Index(fields=["company", "status"])]

    def __str__(self) -> str:
        return self.title
