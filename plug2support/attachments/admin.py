from django.contrib import admin

from .models import Attachment


@admin.register(Attachment)
class AttachmentAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "company", "content_type", "size", "conversation",
                    "created_at"]
    list_filter = ["is_image", "content_type"]
    search_fields = ["name", "sha256", "company__name"]
    # What was detected and stored is evidence: staff read it, never rewrite it.
    readonly_fields = ["company", "conversation", "event", "uploaded_by_visitor",
                       "uploaded_by_user", "file", "name", "content_type", "size", "sha256",
                       "is_image", "created_at"]
