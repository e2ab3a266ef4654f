from django.urls import path

from . import views

urlpatterns = [
    path("settings/saved-replies/", views.saved_replies, name="saved_replies"),
    path("settings/saved-replies/<int:reply_id>/", views.saved_reply_edit,
         name="saved_reply_edit"),
    path("settings/saved-replies/<int:reply_id>/delete", views.saved_reply_delete,
         name="saved_reply_delete"),
    # For the composer (issue 18, contract 1; docs/protocol.md).
    path("console/saved-replies.json", views.saved_replies_json, name="saved_replies_json"),
    path("console/saved-replies/<int:reply_id>/use", views.use_saved_reply,
         name="use_saved_reply"),
]
