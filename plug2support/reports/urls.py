from django.urls import path

from . import views

urlpatterns = [
    path("reports/", views.reports, name="reports"),
    path("reports/export.csv", views.export_table, name="reports_export"),
    path("reports/facts.csv", views.export_facts, name="reports_facts"),
]
