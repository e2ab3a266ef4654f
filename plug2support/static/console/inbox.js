// The live operator inbox (docs/protocol.md, "Operator socket").
import { LiveSocket, Thread, linkify, newId, stickToBottom, timeOf, typingDisplay, typingSender } from "../widget/live.js";

const state = JSON.parse(document.getElementById("inbox-state").textContent);
const me = state.me;
const conversations = new Map(state.conversations.map((c) => [c.id, c]));
let selectedId = state.selected ? state.selected.id : null;
let thread = new Thread();
for (const e of state.events) thread.add(e);
const seen = new Set(conversations.keys());
const transfers = new Map(); // id → transfer request (pending ones I asked, or was asked)

const $ = (id) => document.getElementById(id);
const listEl = $("conversations");
const scroller = stickToBottom($("thread"));

const stageLabels = Object.fromEntries(state.stages.map((s) => [s.value, s.label]));
function stageLabel(stage) { return stageLabels[stage] || stage; }
let metrics = state.metrics;

function duration(seconds) {
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  if (seconds < 86400) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86400).toFixed(1)} days`;
}

function renderMetrics() {
  const parts = [];
  if (metrics && metrics.first_response_seconds != null) parts.push(`First response in ${duration(metrics.first_response_seconds)}`);
  else parts.push("Waiting for a first response");
  if (metrics && metrics.resolution_seconds != null) parts.push(`resolved in ${duration(metrics.resolution_seconds)}`);
  $("pane-metrics").textContent = parts.join(" · ");
}

const tagsById = new Map(state.tags.map((t) => [t.id, t]));
let work = { tickets: [], dependencies: [] };

function renderWork(c) {
  const items = [];
  for (const d of work.dependencies) {
    const li = document.createElement("li");
    li.className = d.done ? "done" : "";
    if (d.ticket) li.textContent = `Waits for #${d.ticket.id} ${d.ticket.title}`;
    else {
      li.textContent = `Waits for ${d.reviewer.name}'s review`;
      if (!d.done && d.reviewer.id === me.id) {
        const done = document.createElement("button");
        done.type = "button";
        done.className = "linklike";
        done.textContent = " — mark my review done";
        done.addEventListener("click", () => act({ type: "complete_review", dependency: d.id }).then(applyWork));
        li.append(done);
      }
    }
    items.push(li);
  }
  for (const t of work.tickets) {
    if (work.dependencies.some((d) => d.ticket && d.ticket.id === t.id)) continue;
    const li = document.createElement("li");
    li.textContent = `#${t.id} ${t.title} · ${t.stage.replace("_", " ")}`;
    items.push(li);
  }
  $("work-list").replaceChildren(...items);
  const open = work.tickets.filter((t) => t.stage !== "done" && t.stage !== "wont_do");
  $("hold-tickets").replaceChildren(...open.map((t) => {
    const label = document.createElement("label");
    const box = document.createElement("input");
    box.type = "checkbox";
    box.value = t.id;
    label.append(box, ` #${t.id}`);
    return label;
  }));
  $("hold-reviewer").replaceChildren(new Option("and/or a person's review…", ""),
    ...state.members.filter((m) => m.id !== me.id).map((m) => new Option(m.name, m.id)));
  $("hold-form").hidden = !["waiting_on_user", "needs_response"].includes(c.stage);
}

function applyWork(reply) {
  if (reply && reply.tickets) {
    work = { tickets: reply.tickets, dependencies: reply.dependencies };
    renderPane();
  }
}

function renderTags(c) {
  $("chips").replaceChildren(...(c.tags || []).map((t) => {
    const li = document.createElement("li");
    li.className = "chip";
    li.append(t.value ? `${t.name}: ${t.value}` : t.name);
    const remove = document.createElement("button");
    remove.type = "button";
    remove.textContent = "×";
    remove.setAttribute("aria-label", `Remove the tag ${t.name}`);
    remove.addEventListener("click", () => act({ type: "untag", conversation: c.id, tag: t.id }));
    li.append(remove);
    return li;
  }));
  const applied = new Set((c.tags || []).map((t) => t.id));
  const pick = $("tag-pick");
  const chosen = pick.value;
  pick.replaceChildren(new Option("Add a tag…", ""),
    ...[...tagsById.values()].filter((t) => !applied.has(t.id)).map((t) => new Option(t.name, t.id)),
    new Option("New tag…", "new"));
  pick.value = [...pick.options].some((o) => o.value === chosen) ? chosen : "";
  const tag = tagsById.get(Number(pick.value));
  $("tag-value").hidden = !(tag && tag.takes_value);
}

function servedLabel(c) {
  if (!c.served_by) return "Waiting";
  return c.served_by.id === me.id ? "Served by you" : `Served by ${c.served_by.name}`;
}

// The same order as the server: priority, then the longest-waiting customer first.
function compare(a, b) {
  if (a.priority !== b.priority) return b.priority - a.priority;
  if (a.waiting_since && b.waiting_since && a.waiting_since !== b.waiting_since) return a.waiting_since.localeCompare(b.waiting_since);
  if (a.waiting_since && !b.waiting_since) return -1;
  if (!a.waiting_since && b.waiting_since) return 1;
  return b.updated_at.localeCompare(a.updated_at);
}

// --- filters and views (D10): the server answers a filter; live updates keep it current ---
const filters = { view: "all_open", stage: "", owner: "", tag: "", priority: "", widget: "", q: "" };
const CLOSED = new Set(["resolved", "archived"]);

function fillSelect(id, first, options) {
  $(id).replaceChildren(new Option(first, ""), ...options.map(([v, l]) => new Option(l, v)));
}

function matches(c) {
  const mine = c.served_by && c.served_by.id === me.id;
  if (filters.view === "all_open" && (CLOSED.has(c.stage) || c.stage === "suspended")) return false;
  if (filters.view === "needs_my_reply" && !(mine && (c.stage === "new" || c.stage === "needs_response"))) return false;
  if (filters.view === "unassigned" && (c.served_by || CLOSED.has(c.stage))) return false;
  if (filters.view === "mine" && !mine) return false;
  if (filters.stage && c.stage !== filters.stage) return false;
  if (filters.owner === "0" && c.served_by) return false;
  if (filters.owner && filters.owner !== "0" && (!c.served_by || String(c.served_by.id) !== filters.owner)) return false;
  if (filters.tag && !(c.tags || []).some((t) => String(t.id) === filters.tag)) return false;
  if (filters.priority && String(c.priority) !== filters.priority) return false;
  if (filters.widget && String(c.widget.id) !== filters.widget) return false;
  return true;
}

let listRequest = 0;
async function reloadList() {
  const mine = ++listRequest;
  const params = new URLSearchParams(Object.entries(filters).filter(([, v]) => v));
  try {
    const response = await fetch(`/inbox/list?${params}`, { credentials: "same-origin" });
    const data = await response.json();
    if (mine !== listRequest) return; // a newer filter answered first
    if (!response.ok) { showError(data.error.message); return; }
    conversations.clear();
    for (const c of data.conversations) { conversations.set(c.id, c); seen.add(c.id); }
    renderList();
    renderPane();
  } catch { /* offline: the next change or reconnect reloads */ }
}

function setupFilters() {
  fillSelect("f-view", "All open", Object.entries(state.views).filter(([v]) => v !== "all_open"));
  $("f-view").options[0].value = "all_open";
  fillSelect("f-stage", "Any stage", state.stages.map((s) => [s.value, s.label]));
  fillSelect("f-owner", "Anyone", [["0", "Nobody"], ...state.members.map((m) => [String(m.id), m.name])]);
  fillSelect("f-tag", "Any tag", state.tags.map((t) => [String(t.id), t.name]));
  fillSelect("f-priority", "Any priority", state.priorities.map((p) => [String(p.value), p.label]));
  fillSelect("f-widget", "Any widget", state.widgets.map((w) => [String(w.id), w.name]));
  let timer = null;
  $("filters").addEventListener("input", (event) => {
    filters[event.target.name] = event.target.value;
    clearTimeout(timer);
    timer = setTimeout(reloadList, event.target.name === "q" ? 250 : 0); // search as you type
  });
  $("filters").addEventListener("submit", (event) => event.preventDefault());
}

function renderList() {
  const items = [...conversations.values()].filter(matches).sort(compare);
  listEl.replaceChildren(...items.map((c) => {
    const li = document.createElement("li");
    const a = document.createElement("a");
    a.href = `/inbox/${c.id}/`;
    a.className = `conv${c.id === selectedId ? " active" : ""}${c.served_by ? "" : " waiting"} priority-${c.priority}`;
    a.dataset.id = c.id;
    if (c.id === selectedId) a.setAttribute("aria-current", "true");
    const top = document.createElement("span");
    top.className = "conv-top";
    const name = document.createElement("strong");
    name.textContent = c.visitor.name;
    const when = document.createElement("time");
    when.textContent = timeOf(c.updated_at);
    top.append(name, when);
    const preview = document.createElement("span");
    preview.className = "conv-preview";
    preview.textContent = c.preview;
    const served = document.createElement("span");
    served.className = `badge ${c.served_by ? "served" : "waiting"}`;
    served.textContent = servedLabel(c);
    const tags = document.createElement("span");
    tags.className = "conv-tags";
    const stage = document.createElement("span");
    stage.className = `stage ${c.stage}`;
    stage.textContent = stageLabel(c.stage);
    tags.append(served, stage);
    for (const t of c.tags || []) {
      const chip = document.createElement("span");
      chip.className = "conv-chip";
      chip.textContent = t.value ? `${t.name}: ${t.value}` : t.name;
      tags.append(chip);
    }
    if (c.stage === "needs_response") { // D5: the team owes an answer
      const reply = document.createElement("button");
      reply.type = "button";
      reply.className = "button small reply-now";
      reply.textContent = "Reply";
      reply.addEventListener("click", (event) => {
        event.preventDefault();
        event.stopPropagation();
        select(c.id, true);
        $("reply").focus();
      });
      tags.append(reply);
    }
    const widget = document.createElement("span");
    widget.className = "conv-widget";
    widget.textContent = c.widget.name;
    a.append(top, preview, tags, widget);
    a.addEventListener("click", (event) => { event.preventDefault(); select(c.id, true); });
    li.append(a);
    return li;
  }));
  // An empty search or filter says so; "no conversations yet" is for an empty inbox.
  const filtering = Object.entries(filters).some(([k, v]) => v && !(k === "view" && v === "all_open"));
  $("empty-list").hidden = items.length > 0 || filtering;
  $("no-results").hidden = items.length > 0 || !filtering;
}

function renderPane() {
  const c = conversations.get(selectedId);
  $("pane-empty").hidden = Boolean(c);
  $("pane-conversation").hidden = !c;
  if (!c) return;
  $("pane-title").textContent = c.visitor.name;
  $("pane-sub").textContent = `${c.widget.name} · started ${timeOf(c.created_at)}`;
  $("served").textContent = servedLabel(c);
  const stageSelect = $("stage");
  stageSelect.replaceChildren(new Option(stageLabel(c.stage), c.stage, true, true),
    ...(state.moves[c.stage] || []).map((to) => new Option(`Move to ${stageLabel(to)}`, to)));
  stageSelect.dataset.current = c.stage;
  renderMetrics();
  renderTags(c);
  renderWork(c);
  const prio = $("priority");
  prio.replaceChildren(...state.priorities.map((p) => new Option(`${p.label} priority`, p.value, false, p.value === c.priority)));
  $("served").className = `served ${c.served_by ? "" : "waiting"}`;
  $("claim").hidden = Boolean(c.served_by);
  const mine = !c.served_by || c.served_by.id === me.id;
  const myRequest = [...transfers.values()].find(
    (t) => t.conversation === c.id && t.requested_by.id === me.id && t.status === "pending");
  $("ask-transfer").hidden = mine || Boolean(myRequest);
  $("withdraw-transfer").hidden = !myRequest;
  $("reassign").hidden = !state.is_admin;
  const select = $("reassign-to");
  select.replaceChildren(...state.members.filter((m) => !c.served_by || m.id !== c.served_by.id)
    .map((m) => new Option(m.name, m.id)));
  const noting = noteMode();
  $("composer").classList.toggle("noting", noting);
  $("reply").disabled = !mine && !noting;
  $("reply").placeholder = noting ? "A note for the team: the visitor never sees it"
    : mine ? "Write a reply… (Enter sends, Shift+Enter for a new line)"
      : `${c.served_by.name} is serving this visitor. Switch to a private note, or ask to take over.`;
  const threadEl = $("thread");
  const events = thread.ordered();
  const messages = events.filter((e) => e.kind === "message");
  const lastMessage = messages[messages.length - 1];
  const items = events.map((e) => {
    const li = document.createElement("li");
    if (e.kind === "message" || e.kind === "note") {
      li.className = e.kind === "note" ? "msg note" : `msg ${e.sender === "visitor" ? "theirs" : "mine"}`;
      const who = document.createElement("span");
      who.className = "who";
      who.textContent = e.sender === "visitor" ? c.visitor.name : (e.author ? e.author.name : "Operator");
      const body = document.createElement("p");
      body.append(linkify(e.body)); // text nodes and safe links, never HTML
      const meta = document.createElement("span");
      meta.className = "meta";
      meta.textContent = timeOf(e.created_at);
      li.append(who, body);
      if (e.attachments && e.attachments.length) li.append(files(e.attachments));
      li.append(meta);
    } else {
      li.className = "system";
      li.textContent = `${e.body} · ${timeOf(e.created_at)}`;
    }
    return li;
  });
  // Delivered / read by the visitor, under the team's last reply.
  if (lastMessage && lastMessage.sender === "operator" && c.receipts) {
    const receipt = document.createElement("li");
    receipt.className = "receipt";
    receipt.textContent = c.receipts.visitor_read >= lastMessage.seq ? "Read"
      : c.receipts.visitor_delivered >= lastMessage.seq ? "Delivered" : "Sent";
    items.splice(events.indexOf(lastMessage) + 1, 0, receipt);
  }
  threadEl.replaceChildren(...items);
  scroller.follow();
  sendReceipt();
}

// A widget is open by its business hours at `now`: its state at page load, flipped at
// each change the server listed for the week.
function widgetOpen(w, now) {
  let open = w.open;
  for (const change of w.changes || []) if (Date.parse(change) <= now) open = !open;
  return open;
}

let presence = null;
let hoursTimer = null;
function availabilityText(frame) {
  const now = Date.now();
  const closed = state.widgets.filter((w) => !widgetOpen(w, now));
  clearTimeout(hoursTimer);
  const next = Math.min(...state.widgets.flatMap((w) => (w.changes || []).map(Date.parse)).filter((t) => t > now));
  if (Number.isFinite(next)) hoursTimer = setTimeout(() => renderPresence(presence), Math.min(next - now + 500, 2 ** 31 - 1));
  if (frame.blocked === "traffic") return "Chat is paused: the plan's traffic limit is reached (see Billing)";
  if (frame.blocked) return "Chat is paused: the paid period has ended (see Billing)";
  if (!frame.operators_online) return "Widgets show the offline form";
  if (state.widgets.length && closed.length === state.widgets.length) {
    return "Closed (business hours): widgets show the offline form";
  }
  if (closed.length) return `Widgets are live, except ${closed.map((w) => w.name).join(", ")} (closed: business hours)`;
  return "Widgets are live";
}

function renderPresence(frame) {
  presence = frame;
  $("team-online").textContent = availabilityText(frame);
  $("team-presence").replaceChildren(...frame.members.map((m) => {
    const li = document.createElement("li");
    li.className = `status-${m.status}`;
    li.textContent = m.user.id === me.id ? `${m.user.name} (you)` : m.user.name;
    li.title = m.status;
    return li;
  }));
}

function setUnread(count) {
  const badge = $("unread");
  if (!badge) return;
  badge.textContent = String(count);
  badge.hidden = !count;
}

function toast(notification) {
  const box = document.createElement("div");
  box.className = "toast";
  box.setAttribute("role", "status");
  const link = document.createElement("a");
  link.href = notification.url || "/notifications/";
  link.textContent = notification.title;
  box.append(link);
  let stack = document.getElementById("toasts");
  if (!stack) {
    stack = document.createElement("div");
    stack.id = "toasts";
    document.body.append(stack);
  }
  stack.append(box);
  setTimeout(() => box.remove(), 8000);
}

function noteMode() {
  return document.querySelector("input[name=mode]:checked").value === "note";
}

function renderTransfers() {
  const asked = [...transfers.values()].filter((t) => t.status === "pending" && t.asked_of.id === me.id);
  $("transfers").replaceChildren(...asked.map((t) => {
    const box = document.createElement("div");
    box.className = "transfer";
    box.setAttribute("role", "alert");
    const text = document.createElement("p");
    const c = conversations.get(t.conversation);
    text.textContent = `${t.requested_by.name} asks to take over ${c ? c.visitor.name : "a conversation"}.`;
    const actions = document.createElement("div");
    actions.className = "actions";
    for (const [label, type] of [["Accept", "transfer_accept"], ["Decline", "transfer_decline"]]) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = `button small${type === "transfer_decline" ? " ghost" : ""}`;
      button.textContent = label;
      button.addEventListener("click", () => answer({ type, request: t.id }));
      actions.append(button);
    }
    box.append(text, actions);
    return box;
  }));
}

// One request/reply with the server; a refusal or a lost connection is shown, not thrown.
async function act(frame) {
  showError("");
  try {
    const reply = await socket.request(frame);
    if (reply.type === "error") { showError(reply.message); return null; }
    return reply;
  } catch {
    showError("Not connected. Try again in a moment.");
    return null;
  }
}

async function answer(frame) {
  const reply = await act(frame);
  if (reply && reply.request) {
    transfers.set(reply.request.id, reply.request);
    renderTransfers();
    renderPane();
  }
}

// The team has received what this console shows, and read it when the page is visible.
function sendReceipt() {
  if (!selectedId || !socket.isOpen) return;
  const c = conversations.get(selectedId);
  const last = thread.lastSeq;
  if (!c || !last) return;
  const read = document.visibilityState === "visible" ? last : 0;
  const r = c.receipts || { team_delivered: 0, team_read: 0 };
  if (last > r.team_delivered || read > r.team_read) {
    socket.send({ type: "receipt", conversation: selectedId, delivered: last, read });
    c.receipts = { ...r, team_delivered: Math.max(last, r.team_delivered), team_read: Math.max(read, r.team_read) };
  }
}

const showTyping = typingDisplay($("typing"));

const images = new Map();
function files(attachments) {
  const box = document.createElement("div");
  box.className = "files";
  for (const a of attachments) {
    const link = document.createElement("a");
    link.href = a.url;
    if (a.is_image) {
      link.target = "_blank";
      link.rel = "noopener";
      // One element per image, moved into each render: a new one would start empty and
      // make the thread jump while it loads again.
      if (!images.has(a.id)) {
        const img = document.createElement("img");
        img.src = a.url;
        img.alt = a.name;
        img.loading = "lazy";
        images.set(a.id, img);
      }
      link.append(images.get(a.id));
    } else {
      link.download = a.name;
      link.textContent = `Download ${a.name}`;
    }
    box.append(link);
  }
  return box;
}

function csrfToken() {
  const match = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

async function send(frame) {
  // Resent with the same client_id until the server answers: stored once (C8).
  for (;;) {
    try {
      const reply = await socket.request(frame);
      if (reply.type === "error") { showError(reply.message); return false; }
      showError("");
      return true;
    } catch {
      if (socket.stopped) return false;
      showError("Reconnecting… your reply will be sent.");
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

function showError(text) {
  $("pane-error").textContent = text;
  $("pane-error").hidden = !text;
}

function select(id, push) {
  if (selectedId && selectedId !== id) socket.send({ type: "unsubscribe", conversation: selectedId });
  if (selectedId !== id) { thread = new Thread(); metrics = null; work = { tickets: [], dependencies: [] }; }
  const other = selectedId !== id;
  selectedId = id;
  showError("");
  if (push) history.pushState({ id }, "", `/inbox/${id}/`);
  socket.send({ type: "subscribe", conversation: id, after: thread.lastSeq });
  renderList();
  renderPane();
  if (other) scroller.pin(); // another conversation opens at its newest message
}

// A short two-tone chime made with Web Audio: no file to download.
let audio = null;
function chime() {
  try {
    audio = audio || new AudioContext();
    const now = audio.currentTime;
    for (const [i, freq] of [[0, 880], [1, 1320]]) {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.0001, now + i * 0.15);
      gain.gain.exponentialRampToValueAtTime(0.2, now + i * 0.15 + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, now + i * 0.15 + 0.3);
      osc.connect(gain).connect(audio.destination);
      osc.start(now + i * 0.15);
      osc.stop(now + i * 0.15 + 0.32);
    }
  } catch { /* audio blocked until the user interacts with the page */ }
}

function announce(c) {
  chime();
  if ("Notification" in window && Notification.permission === "granted" && document.hidden) {
    const n = new Notification(`New conversation: ${c.visitor.name}`, { body: c.preview, tag: `p2s-${c.id}` });
    n.onclick = () => { window.focus(); select(c.id, true); };
  }
}

function upsert(c) {
  const known = conversations.get(c.id);
  if (known && known.last_seq > c.last_seq) return; // an older summary than the one shown
  if (!known && filters.q) return; // a search shows what matched; new ones wait for the next search
  const isNew = !seen.has(c.id);
  seen.add(c.id);
  conversations.set(c.id, c);
  if (isNew && !c.served_by && c.stage === "new") announce(c); // suspended spam makes no noise
  renderList();
  if (c.id === selectedId) renderPane();
}

const socket = new LiveSocket("/ws/operator", {
  onOpen(s) {
    if (selectedId) s.send({ type: "subscribe", conversation: selectedId, after: thread.lastSeq });
  },
  onFrame(frame) {
    switch (frame.type) {
      case "inbox":
        setUnread(frame.unread);
        transfers.clear();
        for (const t of frame.transfers || []) transfers.set(t.id, t);
        renderTransfers();
        for (const c of frame.conversations) seen.add(c.id);
        reloadList(); // whatever changed while away, through the current filters
        renderList();
        renderPane();
        break;
      case "conversation":
        upsert(frame.conversation);
        break;
      case "subscribed":
        conversations.set(frame.conversation.id, frame.conversation);
        metrics = frame.metrics;
        work = { tickets: frame.tickets, dependencies: frame.dependencies };
        renderPane();
        break;
      case "event":
        if (frame.conversation === selectedId && thread.add(frame)) {
          renderPane();
          // Tickets and dependencies changed: ask again (the reply carries them).
          if (["ticket", "stage_changed"].includes(frame.kind)) socket.send({ type: "subscribe", conversation: selectedId, after: thread.lastSeq });
        }
        break;
      case "typing":
        if (frame.conversation === selectedId && !(frame.who.type === "operator" && frame.who.id === me.id)) {
          showTyping(frame.who.type === "visitor" ? (conversations.get(selectedId)?.visitor.name || "The visitor") : frame.who.name);
        }
        break;
      case "receipt": {
        const c = conversations.get(frame.conversation);
        if (c) {
          c.receipts = { visitor_delivered: frame.visitor_delivered, visitor_read: frame.visitor_read,
                         team_delivered: frame.team_delivered, team_read: frame.team_read };
          if (frame.conversation === selectedId) renderPane();
        }
        break;
      }
      case "presence":
        renderPresence(frame);
        break;
      case "status":
        $("my-status").value = frame.status;
        break;
      case "notification":
        setUnread(frame.unread);
        toast(frame.notification);
        break;
      case "notifications_read":
        setUnread(frame.unread);
        break;
      case "transfer":
        transfers.set(frame.request.id, frame.request);
        if (frame.request.status === "pending" && frame.request.asked_of.id === me.id) chime();
        renderTransfers();
        renderPane();
        break;
      case "error":
        if (frame.code === "not_found" && !frame.ref) { selectedId = null; renderPane(); }
        showError(frame.message);
        break;
      default:
        break;
    }
  },
  onStatus(status) {
    $("live").textContent = { open: "live", connecting: "connecting…", reconnecting: "reconnecting…", refused: "logged out" }[status] || status;
    $("live").className = `live ${status}`;
  },
});

$("claim").addEventListener("click", () => act({ type: "claim", conversation: selectedId }));
$("stage").addEventListener("change", async (event) => {
  const expected = event.target.dataset.current;
  const reply = await act({ type: "move", conversation: selectedId, to: event.target.value, expected });
  if (reply) metrics = reply.metrics;
  renderPane();
});

$("ask-transfer").addEventListener("click", () => answer({ type: "transfer_request", conversation: selectedId }));
$("withdraw-transfer").addEventListener("click", () => {
  const mine = [...transfers.values()].find(
    (t) => t.conversation === selectedId && t.requested_by.id === me.id && t.status === "pending");
  if (mine) answer({ type: "transfer_withdraw", request: mine.id });
});
$("reassign").addEventListener("submit", (event) => {
  event.preventDefault();
  act({ type: "reassign", conversation: selectedId, to: Number($("reassign-to").value) });
});
for (const radio of document.querySelectorAll("input[name=mode]")) radio.addEventListener("change", renderPane);
$("ticket-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const reply = await act({ type: "open_ticket", conversation: selectedId, title: $("ticket-title").value,
                            kind: $("ticket-kind").value, needs_code_change: $("ticket-code").checked });
  if (reply) { $("ticket-title").value = ""; $("ticket-code").checked = false; applyWork(reply); }
});
$("hold-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const tickets = [...$("hold-tickets").querySelectorAll("input:checked")].map((b) => Number(b.value));
  const reviewer = $("hold-reviewer").value;
  const c = conversations.get(selectedId);
  applyWork(await act({ type: "hold", conversation: selectedId, tickets,
                        reviewers: reviewer ? [Number(reviewer)] : [], expected: c && c.stage }));
});
$("priority").addEventListener("change", (event) => act({ type: "priority", conversation: selectedId, priority: Number(event.target.value) }));
$("tag-pick").addEventListener("change", () => {
  const tag = tagsById.get(Number($("tag-pick").value));
  $("tag-value").hidden = !(tag && tag.takes_value);
});
$("add-tag").addEventListener("submit", async (event) => {
  event.preventDefault();
  let choice = $("tag-pick").value;
  if (!choice) return;
  if (choice === "new") {
    const name = prompt("Name of the new tag");
    if (!name) return;
    const created = await act({ type: "create_tag", name });
    if (!created) return;
    tagsById.set(created.tag.id, created.tag);
    choice = String(created.tag.id);
  }
  const reply = await act({ type: "tag", conversation: selectedId, tag: Number(choice), value: $("tag-value").value });
  if (reply) { $("tag-value").value = ""; $("tag-pick").value = ""; }
});
$("my-status").value = state.status;
$("my-status").addEventListener("change", (event) => act({ type: "status", status: event.target.value }));

$("composer").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = $("reply");
  const body = input.value.trim();
  if (!body || !selectedId) return;
  const type = noteMode() ? "note" : "message";
  input.value = "";
  scroller.pin(); // one's own reply is always shown
  // Only a refusal (or logging out) gives the text back to edit.
  if (!(await send({ type, conversation: selectedId, client_id: newId(), body }))) input.value = body;
});
const typing = typingSender(() => socket.send({ type: "typing", conversation: selectedId, note: noteMode() }));
$("reply").addEventListener("input", () => { if (selectedId) typing(); });
document.addEventListener("visibilitychange", sendReceipt);
$("file").addEventListener("change", async (event) => {
  const file = event.target.files[0];
  event.target.value = "";
  if (!file || !selectedId) return;
  const data = new FormData();
  data.append("file", file);
  const response = await fetch("/attachments/", { method: "POST", body: data, headers: { "X-CSRFToken": csrfToken() } });
  const reply = await response.json();
  if (!response.ok) { showError(reply.error.message); return; }
  const body = $("reply").value.trim();
  $("reply").value = "";
  const ok = await send({ type: noteMode() ? "note" : "message", conversation: selectedId,
                          client_id: newId(), body, attachments: [reply.id] });
  if (!ok) $("reply").value = body;
});
$("reply").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); $("composer").requestSubmit(); }
});

if ("Notification" in window && Notification.permission === "default") {
  $("notify").hidden = false;
  $("notify").addEventListener("click", async () => {
    await Notification.requestPermission();
    $("notify").hidden = true;
  });
}
window.addEventListener("popstate", () => {
  const match = location.pathname.match(/^\/inbox\/(\d+)\//);
  if (match) select(Number(match[1]), false);
});

setupFilters();
renderList();
renderPane();
socket.connect();
