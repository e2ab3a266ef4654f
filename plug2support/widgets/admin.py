from django.contrib import admin

from .models import Visitor, Widget


@admin.register(Widget)
class WidgetAdmin(admin.ModelAdmin):
    list_display = ["name", "company", "key", "created_at"]
    search_fields = ["name", "key", "company__name"]
    readonly_fields = ["key", "secret"]


@admin.register(Visitor)
class VisitorAdmin(admin.ModelAdmin):
    list_display = ["id", "widget", "created_at", "last_seen_at"]
    readonly_fields = ["token_hash"]
