from django.urls import path

from . import views

urlpatterns = [
    path("attachments/", views.member_upload, name="attachment_upload"),
    path("attachments/<int:attachment_id>/<str:name>", views.member_download,
         name="attachment_download"),
    path("widget/api/<str:key>/attachments", views.visitor_upload,
         name="widget_attachment_upload"),
    path("widget/api/<str:key>/attachments/links", views.visitor_links,
         name="widget_attachment_links"),
    path("widget/api/<str:key>/attachments/<int:attachment_id>", views.visitor_download,
         name="widget_attachment_download"),
]
