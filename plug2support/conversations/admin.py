from django.contrib import admin

from .models import Conversation, Event


class EventInline(admin.TabularInline):
    model = Event
    extra = 0
    readonly_fields = ["seq", "kind", "sender", "author", "body", "client_id", "created_at"]
    can_delete = False


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ["id", "company", "widget", "stage", "assignee", "updated_at"]
    list_filter = ["stage"]
    search_fields = ["company__name", "preview"]
    inlines = [EventInline]
