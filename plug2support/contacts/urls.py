from django.urls import path

from . import views

urlpatterns = [
    path("customers/", views.customers, name="customers"),
    path("customers/orgs/<int:org_id>/", views.org_edit, name="customer_org"),
    path("customers/orgs/<int:org_id>/delete", views.org_delete, name="customer_org_delete"),
]
