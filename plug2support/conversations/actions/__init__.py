"""The only code that changes conversations: check_* validates, do_* writes.

Every write happens in one transaction that takes the next sequence number of the
conversation, stores the event (`conversations/hot_path.append_event`), and publishes it only
after commit (C8). Callers (socket handlers, views) acknowledge to the client only after these
functions return. One module per topic, as Zulip's `zerver/actions/`; callers import from it:

- `core`: what every writer shares (`ConversationError`, `Posted`, the checks of a message,
  the locked read, resends, attachments, the blocked-company check, publishing).
- `visitors`: who a widget's token names, and the conversation the widget shows.
- `messages`: the visitor's, the offline form's and the operator's messages, routing, receipts.
- `teamwork`: claims, private notes, transfers, reassignment, priority.
- `stages`: manual and automatic stage moves.
- `tags`: the company's tags and tagging.
- `tickets`: tickets and Hold dependencies.
- `started`: conversations the team starts (a site visitor, an e-mail, an accepted invite).

A topic module imports `core` and the topics below it only (started → messages → teamwork,
stages; tickets → stages), never the other way: `make check`'s import contract keeps it so.
"""
