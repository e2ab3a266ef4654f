// The console's state: what the page and the server said, and what this console shows. The
// modules change it here and then say which part of the page to draw again (`changed`);
// each part draws itself from the state (`on`). No view, filter or order rules: a summary
// says which lists it is in (`views`) and where (`sort_key`), docs/protocol.md §1.
import { Thread } from "../../widget/live.js";

export const page = JSON.parse(document.getElementById("inbox-state").textContent);
export const me = page.me;

export const store = {
  conversations: new Map(page.conversations.map((c) => [c.id, c])), // id → newest summary
  seen: new Set(page.conversations.map((c) => c.id)), // ids known: a new one chimes
  // The filter form's values, and the views of the list the server last gave for them.
  filters: { view: Object.keys(page.views)[0], stage: "", owner: "", tag: "", priority: "", widget: "", q: "" },
  listViews: page.list_views,
  selectedId: page.selected ? page.selected.id : null,
  thread: new Thread(),
  metrics: page.metrics,
  work: { tickets: [], dependencies: [] },
  transfers: new Map(), // id → transfer request (pending ones I asked, or was asked)
  tags: new Map(page.tags.map((t) => [t.id, t])),
  // M7: my read positions (conversation id → seq), the view list's counts (the `counts`
  // frame), and the ids of a list the server orders itself (the Mentions view), or null.
  read: new Map(Object.entries(page.read || {}).map(([id, seq]) => [Number(id), seq])),
  counts: {},
  pinned: null,
  unreadMentions: new Set(), // M3: conversations with a mention of me I have not seen
};
for (const e of page.events) store.thread.add(e);

const drawers = new Map(); // part → functions that draw it
export function on(part, draw) {
  if (!drawers.has(part)) drawers.set(part, []);
  drawers.get(part).push(draw);
}
export function changed(...parts) {
  for (const part of parts) for (const draw of drawers.get(part) || []) draw();
}

// The list the server answered for the current filters (`order`: a list it orders itself).
export function setList(conversations, views, order = null, read = {}) {
  // The open conversation stays, listed or not: a link (a mention, a notification) may open
  // one the view leaves out (snoozed, resolved), and its pane must not go blank.
  const open = store.conversations.get(store.selectedId);
  store.conversations.clear();
  for (const c of conversations) { store.conversations.set(c.id, c); store.seen.add(c.id); }
  if (open && !store.conversations.has(open.id)) store.conversations.set(open.id, open);
  store.listViews = views;
  store.pinned = order;
  setRead(read);
}

// Read positions from the server (a list, a snapshot, a `seen` frame): they only move on.
export function setRead(positions) {
  for (const [id, seq] of Object.entries(positions || {})) {
    store.read.set(Number(id), Math.max(seq, store.read.get(Number(id)) || 0));
  }
}

// Unread for me: the customer wrote after what my consoles have shown me (M7).
export function isUnread(c) {
  return (c.last_customer_seq || 0) > (store.read.get(c.id) || 0);
}

// A summary is in the list when it is in every view the list is of.
export function isListed(c) {
  return store.listViews.every((view) => c.views.includes(view));
}

// The server's order: sort keys compared element by element, smallest first.
export function bySortKey(a, b) {
  for (let i = 0; i < Math.max(a.sort_key.length, b.sort_key.length); i += 1) {
    const d = (a.sort_key[i] ?? 0) - (b.sort_key[i] ?? 0);
    if (d) return d;
  }
  return 0;
}

// K3: the "time left" order: the soonest due first, those with no running target after (as
// the server's sla_due_at NULLS LAST), then the usual order.
function byTimeLeft(a, b) {
  const due = (c) => (c.sla_due_at ? Date.parse(c.sla_due_at) : Infinity);
  return (due(a) - due(b)) || bySortKey(a, b);
}

export function listed() {
  if (store.pinned) return store.pinned.map((id) => store.conversations.get(id)).filter(Boolean);
  return [...store.conversations.values()].filter(isListed)
    .sort(store.filters.sort === "time_left" ? byTimeLeft : bySortKey);
}

export function selected() {
  return store.conversations.get(store.selectedId);
}

const stageLabels = Object.fromEntries(page.stages.map((s) => [s.value, s.label]));
export function stageLabel(stage) { return stageLabels[stage] || stage; }

export function servedLabel(c) {
  if (!c.served_by) return "Waiting";
  return c.served_by.id === me.id ? "Served by you" : `Served by ${c.served_by.name}`;
}
