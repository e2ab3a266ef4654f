from __future__ import annotations

from typing import Any

from django import forms

from .models import Article, Category


class ArticleForm(forms.ModelForm):
    new_category = forms.CharField(required=False, max_length=80, label="Or a new category")

    class Meta:
        model = Article
        fields = ["title", "category", "status", "body"]
        widgets = {"body": forms.Textarea(attrs={"rows": 14, "class": "mono"}),
                   "status": forms.RadioSelect}
        help_texts = {"body": "Markdown: **bold**, _italic_, # headings, - lists, "
                              "[links](https://…). HTML is shown as text."}

    def __init__(self, *args: Any, company_id: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.company_id = company_id
        self.fields["category"].queryset = Category.objects.filter(  # type: ignore[attr-defined]
            company_id=company_id)
        self.fields["category"].required = False

    def clean_body(self) -> str:
        body = self.cleaned_data.get("body") or ""
        if len(body) > 100_000:
            raise forms.ValidationError("An article is at most 100 000 characters.")
        return body
