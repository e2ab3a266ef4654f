from django.urls import path

from . import views

urlpatterns = [
    path("customers/", views.customers, name="customers"),
    path("customers/orgs/<int:org_id>/", views.org_edit, name="customer_org"),
    path("customers/orgs/<int:org_id>/delete", views.org_delete, name="customer_org_delete"),
    path("settings/attributes/", views.attribute_settings, name="attribute_settings"),
    path("console/contacts/<int:contact_id>/fields.json", views.contact_fields_json,
         name="contact_fields"),
    path("console/contacts/<int:contact_id>/attributes", views.set_attribute,
         name="contact_set_attribute"),
    path("console/<str:kind>/<int:target_id>/notes", views.add_note, name="add_note"),
    path("console/notes/<int:note_id>/delete", views.delete_note, name="delete_note"),
]
