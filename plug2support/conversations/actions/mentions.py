"""@mentions in private notes (M3, issue 18 point 3): the `note` frame's `mentions` (member
user ids; the note's text keeps `@Name` as typed). Each teammate named gets a Mention row,
a console notification with a link to the note, and an e-mail when they are not online and
want one (notifications/alerts.py). An id outside the company is not a mention: ignored."""

from __future__ import annotations

from plug2support.accounts.models import Membership
from plug2support.lib.ids import id_from
from plug2support.notifications.actions import do_notify
from plug2support.push.sending import queue_push
from plug2support.realtime.hub import publish_after_commit
from plug2support.realtime.topics import member_topic

from ..alert_mail import emailed
from ..inbox.counts import unread_mentions
from ..models import Conversation, Event, Mention
from .core import ConversationError

MENTIONS_MAX = 50


def note_url(conversation_id: int, seq: int) -> str:
    """Straight to the note: the console opens the conversation and scrolls to `#seq-<n>`."""
    return f"/inbox/{conversation_id}/#seq-{seq}"


def check_mentions(membership: Membership, mentions: object) -> list[int]:
    """The teammates a note names: ids of members of the writer's company, the writer
    left out (no one is told of their own note); anything else in the list is ignored."""
    if mentions is None:
        return []
    if not isinstance(mentions, list) or len(mentions) > MENTIONS_MAX:
        raise ConversationError("bad_mentions",
                                f"mentions must be a list of at most {MENTIONS_MAX} user ids.")
    ids = {pk for pk in map(id_from, mentions) if pk is not None}
    if not ids:
        return []
    return sorted(Membership.objects.filter(company_id=membership.company_id, user_id__in=ids)
                  .exclude(user_id=membership.user_id).values_list("user_id", flat=True))


def record_mentions(membership: Membership, conversation: Conversation, note: Event,
                    user_ids: list[int]) -> None:
    """In the note's transaction: the Mention rows and the notifications (published and
    e-mailed after commit, as do_notify does)."""
    if not user_ids:
        return
    company_id = membership.company_id
    Mention.objects.bulk_create([
        Mention(company_id=company_id, conversation=conversation, event=note, user_id=user_id,
                seq=note.seq) for user_id in user_ids])
    author = membership.user.name or membership.user.email
    email_to = emailed(company_id, user_ids, "mention")
    url = note_url(conversation.pk, note.seq)
    queue_push(company_id, user_ids, "mention", f"{author} mentioned you in a note", url,
               conversation.pk)
    do_notify(company_id=company_id, user_ids=user_ids, kind="mention",
              title=f"{author} mentioned you in a note", body=note.body[:500], url=url,
              email_template="mention", email_to=email_to,
              email_context={"author": author, "body": note.body, "url": url,
                             "visitor": conversation.visitor.display_name})
    # The Mentions view's count on each one's consoles (their sockets' `counts`).
    for user_id in user_ids:
        publish_after_commit(member_topic(company_id, user_id), {
            "type": "mentioned", "conversation": conversation.pk, "seq": note.seq,
            "mentions_unread": unread_mentions(company_id, user_id)})
