from django.contrib import admin

from .models import Contact, CustomerOrg, VisitorContact


@admin.register(CustomerOrg)
class CustomerOrgAdmin(admin.ModelAdmin):
    list_display = ["name", "domain", "company", "default_owner", "created_at"]
    search_fields = ["name", "domain", "company__name"]
    raw_id_fields = ["company", "default_owner"]


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ["id", "email", "name", "external_id", "verified", "org", "company",
                    "last_seen_at"]
    list_filter = ["verified"]
    search_fields = ["email", "name", "external_id", "company__name"]
    raw_id_fields = ["company", "org"]
    # Verification is decided by the HMAC check, not by hand.
    readonly_fields = ["external_id", "verified"]


@admin.register(VisitorContact)
class VisitorContactAdmin(admin.ModelAdmin):
    list_display = ["visitor", "contact", "linked_at"]
    raw_id_fields = ["visitor", "contact"]
