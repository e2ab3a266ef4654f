from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, JsonResponse
from django.urls import include, path

from plug2support.accounts import profile_views, twofactor_views
from plug2support.accounts import views as accounts
from plug2support.accounts.forms import EmailAuthenticationForm
from plug2support.billing import views as billing
from plug2support.conversations import composer_views, routing_views, ticket_views
from plug2support.conversations import views as conversations
from plug2support.knowledge import views as knowledge
from plug2support.notifications import views as notifications
from plug2support.push import views as push_views
from plug2support.push import webapp
from plug2support.sla import views as sla_views
from plug2support.widgets import views as widgets


def health(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


urlpatterns = [
    path("", accounts.home, name="home"),
    path("health", health, name="health"),
    path("", include("plug2support.satisfaction.urls")),
    path("", include("plug2support.reports.urls")),
    path("admin/", admin.site.urls),
    # accounts
    path("signup/", accounts.sign_up, name="signup"),
    path("accounts/login/code/", twofactor_views.login_code, name="login_code"),
    path("account/two-factor/", twofactor_views.two_factor, name="two_factor"),
    path("account/two-factor/recovery-codes.txt", twofactor_views.recovery_codes_txt,
         name="recovery_codes_txt"),
    path("account/two-factor/<str:action>", twofactor_views.two_factor_action,
         name="two_factor_action"),
    path("accounts/login/", twofactor_views.LoginView.as_view(
        authentication_form=EmailAuthenticationForm, redirect_authenticated_user=True),
        name="login"),
    path("accounts/logout/", accounts.log_out, name="logout"),
    path("accounts/password-reset/", accounts.PasswordResetView.as_view(),
         name="password_reset"),
    path("accounts/password-reset/sent/", auth_views.PasswordResetDoneView.as_view(),
         name="password_reset_done"),
    path("accounts/reset/<uidb64>/<token>/", auth_views.PasswordResetConfirmView.as_view(),
         name="password_reset_confirm"),
    path("accounts/reset/done/", auth_views.PasswordResetCompleteView.as_view(),
         name="password_reset_complete"),
    path("accounts/no-company/", accounts.no_company, name="no_company"),
    path("accounts/switch/<int:company_id>/", accounts.switch_company, name="switch_company"),
    path("team/", accounts.team, name="team"),
    path("team/<int:member_id>/remove/", accounts.remove_member, name="remove_member"),
    # M10: the person's own profile
    path("account/", profile_views.profile, name="profile"),
    path("account/sessions/sign-out-others/", profile_views.sign_out_others,
         name="sign_out_others"),
    path("account/sessions/<int:session_id>/sign-out/", profile_views.sign_out_session,
         name="sign_out_session"),
    path("account/avatars/<int:user_id>/<str:name>", profile_views.avatar, name="avatar"),
    path("invitations/<str:token>/", accounts.accept_invitation, name="accept_invitation"),
    # widgets: settings
    path("settings/widgets/", widgets.widget_list, name="widget_list"),
    path("settings/widgets/new/", widgets.widget_edit, name="widget_new"),
    path("settings/widgets/<int:widget_id>/", widgets.widget_edit, name="widget_edit"),
    path("settings/widgets/<int:widget_id>/preview", widgets.widget_preview,
         name="widget_preview"),
    path("widget/assets/<str:key>/<str:name>", widgets.widget_asset, name="widget_asset"),
    path("settings/routing/", routing_views.routing, name="routing"),
    path("settings/routing/<int:rule_id>/delete", routing_views.delete_rule, name="delete_rule"),
    path("settings/service-targets/", sla_views.policies, name="sla_policies"),
    path("settings/service-targets/<int:policy_id>/delete", sla_views.delete_policy,
         name="sla_delete_policy"),
    # widgets: public (docs/protocol.md)
    path("widget/api/<str:key>/config", widgets.widget_config, name="widget_config"),
    path("widget/api/<str:key>/session", widgets.visitor_session, name="visitor_session"),
    path("widget/api/<str:key>/messages", widgets.visitor_messages, name="visitor_messages"),
    path("widget/api/<str:key>/pageview", widgets.page_view, name="page_view"),
    path("widget/frame/<str:key>/", widgets.widget_frame, name="widget_frame"),
    path("notifications/", notifications.notification_list, name="notifications"),
    path("settings/alerts/", notifications.alert_settings, name="alert_settings"),
    path("console/push/subscription", push_views.subscription, name="push_subscription"),
    # M11: the installable console (public, the same for everyone: push/webapp.py)
    path("manifest.webmanifest", webapp.manifest, name="manifest"),
    path("sw.js", webapp.service_worker, name="service_worker"),
    path("offline/", webapp.offline, name="offline"),
    # help articles (G1)
    path("articles/", knowledge.article_list, name="articles"),
    path("articles/new/", knowledge.article_edit, name="article_new"),
    path("articles/<int:article_id>/", knowledge.article_edit, name="article_edit"),
    path("articles/search", knowledge.article_search, name="article_search"),
    path("widget/api/<str:key>/articles", knowledge.widget_articles, name="widget_articles"),
    path("widget/api/<str:key>/articles/<int:article_id>", knowledge.widget_article,
         name="widget_article"),
    path("help/<str:key>/<int:article_id>/", knowledge.help_page, name="help_page"),
    # billing (docs/billing.md)
    path("billing/", billing.billing, name="billing"),
    path("billing/invoices/<int:invoice_id>.pdf", billing.invoice_pdf, name="invoice_pdf"),
    path("billing/invoices/<int:invoice_id>/pay", billing.pay_invoice, name="pay_invoice"),
    path("billing/stripe/webhook", billing.stripe_webhook, name="stripe_webhook"),
    # inbox
    path("inbox/", conversations.inbox, name="inbox"),
    path("inbox/list", conversations.inbox_list, name="inbox_list"),
    path("console/emoji.json", composer_views.emoji_list, name="emoji_list"),
    path("console/conversations/<int:conversation_id>/sidebar.json",
         composer_views.sidebar_json, name="sidebar_json"),
    path("console/conversations/<int:conversation_id>/name",
         composer_views.name_visitor, name="name_visitor"),
    path("console/conversations/bulk", conversations.bulk, name="bulk_actions"),
    path("inbox/views", conversations.save_view, name="save_view"),
    path("inbox/views/<int:view_id>/delete", conversations.delete_view, name="delete_view"),
    path("inbox/<int:conversation_id>/", conversations.inbox, name="conversation"),
    path("visitors/", conversations.visitors, name="visitors"),
    path("tickets/", ticket_views.tracker, name="tickets"),
    path("tickets/<int:ticket_id>/stage", ticket_views.ticket_stage, name="ticket_stage"),
    path("visitors/<int:site_visitor_id>/chat", conversations.start_chat, name="start_chat"),
    path("", include("plug2support.attachments.urls")),
    path("", include("plug2support.contacts.urls")),
    path("", include("plug2support.mail.urls")),
    path("", include("plug2support.mail.settings_urls")),
    path("", include("plug2support.replies.urls")),
]
