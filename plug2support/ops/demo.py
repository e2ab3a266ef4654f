"""The idempotent demo: one company, an owner, two operators, one widget (L1)."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.files.base import ContentFile
from django.db import transaction

from plug2support.accounts.models import Company, Membership, Role, User
from plug2support.billing.access import standard_plan, subscription_of
from plug2support.billing.actions import do_change_subscription
from plug2support.billing.models import PaymentMethod, PlanKind
from plug2support.billing.payments import do_record_payment
from plug2support.knowledge.markdown import render_markdown
from plug2support.knowledge.models import Article, ArticleStatus, Category
from plug2support.replies.actions import do_create_saved_reply
from plug2support.replies.models import SavedReply
from plug2support.widgets.models import Widget, WidgetCard

DEMO_PASSWORD = "demo-password-2026"  # noqa: S105 (printed by `make run`: a demo only)
DEMO_SITE_ORIGINS = ["http://127.0.0.1:8001", "http://localhost:8001"]
PEOPLE = [
    ("owner@demo.example", "Olivia Owner", Role.OWNER),
    ("alice@demo.example", "Alice Operator", Role.OPERATOR),
    ("bob@demo.example", "Bob Operator", Role.OPERATOR),
]


@dataclass
class Demo:
    company: Company
    widget: Widget
    users: list[User]


@transaction.atomic
def load_demo() -> Demo:
    company = Company.objects.filter(name="Demo Company").order_by("pk").first()
    if company is None:
        company = Company.objects.create(name="Demo Company")
    users = []
    for email, name, role in PEOPLE:
        user = User.objects.filter(email=email).first()
        if user is None:
            user = User.objects.create_user(email=email, name=name, password=DEMO_PASSWORD)
        Membership.objects.get_or_create(user=user, company=company, defaults={"role": role})
        users.append(user)
    _demo_subscription(company, len(users))
    widget = Widget.objects.filter(company=company, name="Demo website").first()
    if widget is None:
        widget = Widget.objects.create(company=company, name="Demo website",
                                       allowed_origins="\n".join(DEMO_SITE_ORIGINS),
                                       search_enabled=True)
        _demo_help(company, widget)
    _demo_replies(company, users)
    return Demo(company=company, widget=widget, users=users)


DEMO_ARTICLES = [
    ("Shipping", "When do you ship?",
     "We roast on **Tuesdays** and ship on Wednesdays.\n\n- France: 1–2 days\n"
     "- Europe: 3–5 days\n\nTracking arrives by e-mail."),
    ("Brewing", "Which grind for my brewer?",
     "- **Espresso**: fine\n- **Moka pot**: medium-fine\n- **Filter**: medium\n"
     "- **French press**: coarse"),
]


def _demo_help(company: Company, widget: Widget) -> None:
    """A new demo widget: search on, two help articles and a card to see (G1, B4)."""
    for category, title, body in DEMO_ARTICLES:
        Article.objects.get_or_create(company=company, title=title, defaults={
            "category": Category.objects.get_or_create(company=company, name=category)[0],
            "body": body, "body_html": render_markdown(body),
            "status": ArticleStatus.PUBLISHED})
    WidgetCard.objects.get_or_create(widget=widget, title="New: the winter blend", defaults={
        "description": "Cocoa and orange notes, roasted this Tuesday.",
        "link": "https://example.com/winter"})


DEMO_REPLIES = [
    ("company", "Greeting", "hello",
     "Hi {{contact.name|there}}! I'm {{operator.name}} from {{company.name}}. How can I help?"),
    ("company", "Closing", "bye",
     "Glad I could help. Have a **great** day, and write again any time!"),
    ("company", "Refund policy", "refund",
     "We refund any bag returned **within 30 days**, unopened or not. The policy is "
     "attached; reply with your order number and I'll start it."),
    ("personal", "Brewing tips", "brew",
     "A few tips for {{contact.name|your}} brewer:\n\n- grind just before brewing\n"
     "- 60 g of coffee per litre\n- water at 93 °C"),
]
REFUND_POLICY = (b"Refund policy\n\nAny bag returned within 30 days is refunded in full, "
                 b"unopened or not.\nWrite to us with your order number.\n")


def _demo_replies(company: Company, users: list[User]) -> None:
    """A few saved replies (M1): three of the company's (the owner's), one of Alice's own."""
    if SavedReply.objects.filter(company=company).exists():
        return
    owner, alice = (Membership.objects.get(user=u, company=company) for u in users[:2])
    for scope, title, shortcut, body in DEMO_REPLIES:
        files = ([ContentFile(REFUND_POLICY, name="refund-policy.txt")]
                 if shortcut == "refund" else [])
        do_create_saved_reply(owner if scope == "company" else alice, scope=scope,
                              title=title, shortcut=shortcut, body=body, files=files)


def _demo_subscription(company: Company, seats: int) -> None:
    """The demo has three people, more than Free allows: a year of Startup, bought as any
    company buys it — the billing page's change (an invoice) paid by a bank transfer that
    staff record — so the billing page shows its paid invoice (README). Only while the
    company is on Free: a second load changes nothing."""
    if subscription_of(company.pk).plan.kind != PlanKind.FREE:
        return
    _, invoice = do_change_subscription(company.pk, standard_plan(PlanKind.STARTUP), seats, 12)
    assert invoice is not None  # a year of Startup is never free
    do_record_payment(invoice.pk, invoice.total, method=PaymentMethod.BANK_TRANSFER,
                      external_id=f"demo-{invoice.reference}",
                      note="The demo's year of Startup, paid by bank transfer")


def demo_site_origins(host: str, port: int) -> list[str]:
    """The origins the demo site is served from (`run --host/--demo-port`)."""
    if host in ("127.0.0.1", "localhost", "0.0.0.0", "::", "::1"):  # noqa: S104 (names only)
        return [f"http://127.0.0.1:{port}", f"http://localhost:{port}"]
    return [f"http://{host}:{port}"]


def allow_demo_site(widget: Widget, origins: list[str]) -> None:
    """The demo widget follows the demo site wherever it runs: its address is added to the
    allowed origins (B6), so a changed `--demo-port` keeps the widget on the site."""
    allowed = widget.allowed_origins.split()
    missing = [o for o in origins if o not in allowed]
    if missing:
        widget.allowed_origins = "\n".join(allowed + missing)
        widget.save(update_fields=["allowed_origins"])
