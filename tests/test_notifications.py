"""Console notifications (I1): each person sees their own, in the company they work in;
marking them read clears the count; transfer requests and offline messages create them."""

from __future__ import annotations

from plug2support.notifications.actions import do_notify, unread_count
from plug2support.notifications.models import Notification

from .conftest import Tenant, logged_in_client


def test_notifications_are_per_person_and_per_company(acme: Tenant, globex: Tenant) -> None:
    do_notify(company_id=acme.company.pk, user_ids=[acme.operators[0].pk], kind="test",
              title="For Alice at Acme", url="/inbox/")
    do_notify(company_id=globex.company.pk, user_ids=[globex.operators[0].pk], kind="test",
              title="For Globex only")
    alice = logged_in_client(acme.operators[0])
    page = alice.get("/notifications/").content.decode()
    assert "For Alice at Acme" in page and "For Globex only" not in page
    assert alice.get("/inbox/").context["unread_notifications"] == 1
    bob_page = logged_in_client(acme.operators[1]).get("/notifications/").content.decode()
    assert "For Alice at Acme" not in bob_page


def test_marking_read_clears_the_count_of_that_company_only(acme: Tenant, globex: Tenant) -> None:
    from plug2support.accounts.models import Membership, Role

    alice = acme.operators[0]
    Membership.objects.create(user=alice, company=globex.company, role=Role.OPERATOR)
    do_notify(company_id=acme.company.pk, user_ids=[alice.pk], kind="t", title="a")
    do_notify(company_id=globex.company.pk, user_ids=[alice.pk], kind="t", title="g")
    client = logged_in_client(alice)
    client.post(f"/accounts/switch/{acme.company.pk}/")
    client.post("/notifications/")
    assert unread_count(alice.pk, acme.company.pk) == 0
    assert unread_count(alice.pk, globex.company.pk) == 1
    assert Notification.objects.filter(read_at__isnull=False).count() == 1


def test_a_transfer_request_notifies_the_serving_operator(acme: Tenant) -> None:
    from plug2support.conversations.actions.messages import do_post_visitor_message
    from plug2support.conversations.actions.teamwork import do_claim, do_request_transfer
    from plug2support.conversations.actions.visitors import do_identify_visitor
    from plug2support.conversations.models import Conversation

    visitor, _ = do_identify_visitor(acme.widget, None)
    do_post_visitor_message(visitor, client_id="v", body="Hi")
    conversation = Conversation.objects.get()
    do_claim(acme.membership(acme.operators[0]), conversation)
    do_request_transfer(acme.membership(acme.operators[1]), conversation)
    [notification] = Notification.objects.all()
    assert notification.user == acme.operators[0] and notification.kind == "transfer_request"
    assert notification.url == f"/inbox/{conversation.pk}/"


def test_a_notification_time_reads_as_a_date_and_time_marked_for_the_readers_zone(
        acme: Tenant) -> None:
    import time_machine

    with time_machine.travel("2026-12-02 05:49:30+00:00", tick=False):
        do_notify(company_id=acme.company.pk, user_ids=[acme.operators[0].pk], kind="test",
                  title="An offline message")
    page = logged_in_client(acme.operators[0]).get("/notifications/").content.decode()
    assert "2026-12-0205:49" not in page
    # Readable in UTC without script, and marked for console/local_time.js, which shows it in
    # the reader's own time zone.
    assert ('<time class="muted small local-time" datetime="2026-12-02T05:49:30+00:00">'
            "2 Dec 2026, 05:49 UTC</time>") in page
