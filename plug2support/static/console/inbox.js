// The live operator inbox (docs/protocol.md, "Operator socket"), in modules: inbox/store.js
// (the state), inbox/list.js (the list and its filters), inbox/conversation.js (the pane),
// inbox/composer.js (replies and notes), inbox/team.js (presence, transfers, notifications),
// inbox/server.js (the socket), inbox/focus.js (what it shows, for Web Push), ../push.js (the
// "Enable push notifications" control). This page wires them: what each pushed frame changes.
import "./push.js";
import "./inbox/composer.js";
import "./inbox/panes.js";
import "./inbox/focus.js";
import "./inbox/contact_fields.js";
import "./inbox/snooze.js";
import "./inbox/sidebar.js";
import { open, showTyping } from "./inbox/conversation.js";
import { reloadList, setupFilters, upsert } from "./inbox/list.js";
import { connect, showError, socket } from "./inbox/server.js";
import { changed, me, selected, setRead, store } from "./inbox/store.js";
import { alertFor, notificationAlert, renderPresence, setStatus, setUnread, summaryAlert, toast } from "./inbox/team.js";
import { mentioned, seenElsewhere, setCounts } from "./inbox/views.js";

const frames = {
  inbox(frame) {
    setUnread(frame.unread);
    store.transfers.clear();
    for (const t of frame.transfers || []) store.transfers.set(t.id, t);
    changed("transfers");
    for (const c of frame.conversations) store.seen.add(c.id);
    setRead(frame.read);
    reloadList(); // whatever changed while away, through the current filters
    changed("list", "pane");
  },
  conversation(frame) {
    summaryAlert(store.conversations.get(frame.conversation.id), frame.conversation);
    upsert(frame.conversation);
  },
  counts(frame) { setCounts(frame.counts); },
  visitor_page(frame) { document.dispatchEvent(new CustomEvent("visitor:page", { detail: frame })); },
  seen: seenElsewhere,
  mentioned(frame) {
    mentioned(frame);
  },
  subscribed(frame) {
    store.conversations.set(frame.conversation.id, frame.conversation);
    store.metrics = frame.metrics;
    store.work = { tickets: frame.tickets, dependencies: frame.dependencies };
    changed("pane");
  },
  event(frame) {
    if (frame.conversation === store.selectedId && store.thread.add(frame)) {
      // The message that was being typed has come: "… is typing" ends with it.
      if (frame.kind === "message" && frame.sender === "visitor") showTyping.hide();
      changed("pane");
      // Tickets and dependencies changed: ask again (the reply carries them).
      if (["ticket", "stage_changed"].includes(frame.kind)) socket.send({ type: "subscribe", conversation: store.selectedId, after: store.thread.lastSeq });
    }
  },
  typing(frame) {
    if (frame.conversation === store.selectedId && !(frame.who.type === "operator" && frame.who.id === me.id)) {
      showTyping(frame.who.type === "visitor" ? (selected()?.visitor.name || "The visitor") : frame.who.name);
    }
  },
  receipt(frame) {
    const c = store.conversations.get(frame.conversation);
    if (c) {
      c.receipts = { visitor_delivered: frame.visitor_delivered, visitor_read: frame.visitor_read,
                     team_delivered: frame.team_delivered, team_read: frame.team_read };
      if (frame.conversation === store.selectedId) changed("pane");
    }
  },
  presence: renderPresence,
  status(frame) { setStatus(frame.status); },
  notification(frame) {
    setUnread(frame.unread);
    toast(frame.notification);
    notificationAlert(frame.notification);
  },
  notifications_read(frame) { setUnread(frame.unread); },
  transfer(frame) {
    store.transfers.set(frame.request.id, frame.request);
    if (frame.request.status === "pending" && frame.request.asked_of.id === me.id) {
      alertFor("transfer_request", `${frame.request.requested_by.name} asks to take over a conversation`, "", `/inbox/${frame.request.conversation}/`);
    }
    changed("transfers", "pane");
  },
  error(frame) {
    if (frame.code === "not_found" && !frame.ref) { store.selectedId = null; changed("pane"); }
    showError(frame.message);
  },
};

window.addEventListener("popstate", () => {
  const match = location.pathname.match(/^\/inbox\/(\d+)\//);
  if (match) open(Number(match[1]), false);
});

setupFilters();
changed("list", "pane");
connect(frames);
