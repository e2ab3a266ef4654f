// The inbox list (D9, D10). The server answers the filter form with a list and the views it
// is of (`GET /inbox/list`); a live summary is shown while its own `views` hold the list's,
// placed by its `sort_key` (docs/protocol.md §1, §6). No view, filter or order rules here.
import { timeOf } from "../../widget/live.js";
import { pickBox } from "./bulk.js";
import { open } from "./conversation.js";
import { showError } from "./server.js";
import { slaChip } from "./sla.js";
import { snoozeLabel } from "./snooze.js";
import { changed, isUnread, listed, on, page, servedLabel, setList, stageLabel, store } from "./store.js";
import { announce } from "./team.js";

const $ = (id) => document.getElementById(id);

function fillSelect(id, first, options) {
  $(id).replaceChildren(new Option(first, ""), ...options.map(([v, l]) => new Option(l, v)));
}

let listRequest = 0;
// Live summaries that arrived while a list request was on its way: the answer may be older
// than they are, and must not drop them (a conversation opened meanwhile stays shown).
let arrivedMeanwhile = new Map();
export async function reloadList() {
  const mine = ++listRequest;
  arrivedMeanwhile = new Map();
  const params = new URLSearchParams(Object.entries(store.filters).filter(([, v]) => v));
  try {
    const response = await fetch(`/inbox/list?${params}`, { credentials: "same-origin" });
    const data = await response.json();
    if (mine !== listRequest) return; // a newer filter answered first
    if (!response.ok) { refused(data.error); return; }
    filterError("");
    setList(data.conversations, data.views, data.order || null, data.read);
    if (data.unread_mentions) store.unreadMentions = new Set(data.unread_mentions);
    for (const c of arrivedMeanwhile.values()) {
      const answered = store.conversations.get(c.id);
      if (!answered || answered.last_seq < c.last_seq) store.conversations.set(c.id, c);
    }
    changed("list", "pane");
  } catch { /* offline: the next change or reconnect reloads */ }
}

// A filter the server refuses (an attribute filter that is no key:value, an unknown key…)
// says why beside the filters, and the list shows nothing rather than the previous answer,
// which would read as the refused filter's result.
function filterError(text) {
  const box = $("filter-error");
  box.textContent = text;
  box.hidden = !text;
  $("f-attr").toggleAttribute("aria-invalid", Boolean(text) && Boolean(store.filters.attr));
}

function refused(error) {
  if (error.code !== "bad_filter") { showError(error.message); return; }
  filterError(error.message);
  setList([], {}, null, {});
  changed("list", "pane");
}

export function setupFilters() {
  // The first view is the default one, shown when no view is chosen.
  const [[firstView, firstLabel], ...views] = Object.entries(page.views);
  fillSelect("f-view", firstLabel, views);
  $("f-view").options[0].value = firstView;
  fillSelect("f-stage", "Any stage", page.stages.map((s) => [s.value, s.label]));
  fillSelect("f-owner", "Anyone", [["0", "Nobody"], ...page.members.map((m) => [String(m.id), m.name])]);
  fillSelect("f-tag", "Any tag", page.tags.map((t) => [String(t.id), t.name]));
  fillSelect("f-priority", "Any priority", page.priorities.map((p) => [String(p.value), p.label]));
  fillSelect("f-widget", "Any widget", page.widgets.map((w) => [String(w.id), w.name]));
  let timer = null;
  $("filters").addEventListener("input", (event) => {
    store.filters[event.target.name] = event.target.value;
    clearTimeout(timer);
    timer = setTimeout(reloadList, ["q", "attr"].includes(event.target.name) ? 250 : 0); // search as you type
  });
  $("filters").addEventListener("submit", (event) => event.preventDefault());
}

// A live summary: kept if newer than the one shown (docs/protocol.md, "Welcome, inbox and
// presence"), announced if it is a new conversation nobody serves yet.
export function upsert(c) {
  const known = store.conversations.get(c.id);
  if (known && known.last_seq > c.last_seq) return; // an older summary than the one shown
  // A search (or an attribute filter, M9: no summary says a contact's attributes) shows what
  // matched; new ones wait for the next list.
  if (!known && (store.filters.q || store.filters.attr)) return;
  const isNew = !store.seen.has(c.id);
  store.seen.add(c.id);
  store.conversations.set(c.id, c);
  arrivedMeanwhile.set(c.id, c);
  if (isNew && !c.served_by && c.stage === "new") announce(c); // suspended spam makes no noise
  changed("list");
  if (c.id === store.selectedId) changed("pane");
}

// Each conversation keeps its row's <li> and <a> across re-renders, only their insides are
// redrawn, and the insides take no pointer events (app.css): a live change (a count, a
// message, the socket's snapshot) arriving between a person's press and release would
// otherwise swap the element under the pointer, and the browser would fire no click.
const rows = new Map();

function item(c) {
  let row = rows.get(c.id);
  if (!row) {
    row = { li: document.createElement("li"), a: document.createElement("a") };
    row.a.addEventListener("click", (event) => { event.preventDefault(); open(c.id, true); });
    rows.set(c.id, row);
  }
  const { li, a } = row;
  a.replaceChildren();
  a.removeAttribute("aria-current");
  a.href = `/inbox/${c.id}/`;
  a.className = `conv${c.id === store.selectedId ? " active" : ""}${c.served_by ? "" : " waiting"} priority-${c.priority}`;
  a.dataset.id = c.id;
  if (c.id === store.selectedId) a.setAttribute("aria-current", "true");
  const unread = isUnread(c); // M7: bold with a dot, until I have seen it
  if (unread) a.classList.add("unread");
  const top = document.createElement("span");
  top.className = "conv-top";
  const name = document.createElement("strong");
  name.textContent = c.visitor.name;
  if (unread) {
    const dot = document.createElement("span");
    dot.className = "unread-dot";
    dot.textContent = "unread";
    name.prepend(dot);
  }
  if (store.filters.view === "mentions" && store.unreadMentions.has(c.id)) { // M3
    const mark = document.createElement("span");
    mark.className = "mention-mark";
    mark.textContent = "@ unread mention";
    name.append(mark);
  }
  const when = document.createElement("time");
  when.textContent = timeOf(c.updated_at);
  top.append(name, when);
  const preview = document.createElement("span");
  preview.className = "conv-preview";
  preview.textContent = c.preview;
  // An e-mail conversation shows its subject above the preview, marked as mail.
  const subject = document.createElement("span");
  subject.className = "conv-subject";
  subject.hidden = c.channel !== "email";
  subject.textContent = `✉ ${c.subject || "(no subject)"}`;
  subject.setAttribute("aria-label", `E-mail: ${c.subject || "no subject"}`);
  const served = document.createElement("span");
  served.className = `badge ${c.served_by ? "served" : "waiting"}`;
  served.textContent = servedLabel(c);
  const tags = document.createElement("span");
  tags.className = "conv-tags";
  const stage = document.createElement("span");
  stage.className = `stage ${c.stage}`;
  stage.textContent = stageLabel(c.stage);
  tags.append(served, stage);
  const sla = slaChip(c); // K3: time left on its service target
  if (sla) tags.append(sla);
  if (c.snoozed_until) { // M4: out of the open views until then
    const snoozed = document.createElement("span");
    snoozed.className = "badge snoozed";
    snoozed.textContent = `Snoozed until ${snoozeLabel(c.snoozed_until)}`;
    tags.append(snoozed);
  }
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
      open(c.id, true);
      $("reply").focus();
    });
    tags.append(reply);
  }
  const widget = document.createElement("span");
  widget.className = "conv-widget";
  widget.textContent = c.widget.name;
  a.append(top, subject, preview, tags, widget);
  li.className = "conv-row";
  // The checkbox beside the link (M5), never inside it; the link is never taken out (above).
  const box = pickBox(c);
  if (a.parentNode !== li) li.replaceChildren(box, a);
  else if (li.firstElementChild !== a) li.firstElementChild.replaceWith(box);
  else li.prepend(box);
  return li;
}

function renderList() {
  const items = listed();
  // Rows stay in the document where they can: a row removed, even for a moment, ends a
  // press on it (the browser then fires no click), so only misplaced rows are moved.
  const list = $("conversations");
  const wanted = items.map(item);
  wanted.forEach((li, i) => { if (list.children[i] !== li) list.insertBefore(li, list.children[i] || null); });
  while (list.children.length > wanted.length) list.lastElementChild.remove();
  const shown = new Set(items.map((c) => c.id));
  for (const id of rows.keys()) if (!shown.has(id)) rows.delete(id);
  // An empty search or filter says so; "no conversations yet" is for an empty inbox.
  const defaultView = Object.keys(page.views)[0];
  const filtering = Object.entries(store.filters).some(([k, v]) => v && !(k === "view" && v === defaultView));
  $("empty-list").hidden = items.length > 0 || filtering;
  $("no-results").hidden = items.length > 0 || !filtering;
}
on("list", renderList);
