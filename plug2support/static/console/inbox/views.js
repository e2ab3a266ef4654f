// The view list (M7): each view with its live count (the server's `counts` frame, one
// recount per company per burst), the Mentions view (M3), the person's saved views, and
// what unread means for me: the conversations I have seen (`seen`, my read positions).
// docs/protocol.md §5 ("counts", "seen", "mentioned") and §6 (/inbox/views).
import { reloadList } from "./list.js";
import { act, showError, socket } from "./server.js";
import { changed, on, page, selected, setRead, store } from "./store.js";

const $ = (id) => document.getElementById(id);
const FILTER_NAMES = ["view", "stage", "owner", "tag", "priority", "widget", "q", "attr", "sort"];
const allViews = { ...page.views, ...(page.personal_views || {}) };
const defaultView = Object.keys(page.views)[0];
let savedViews = [...(page.saved_views || [])];

function csrfToken() {
  const match = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

// The filter form shows what a view chose; the list follows.
function applyFilters(filters) {
  offerPersonalViews();
  for (const name of FILTER_NAMES) store.filters[name] = filters[name] || (name === "view" ? defaultView : "");
  for (const name of FILTER_NAMES) {
    const field = $(`f-${name}`);
    if (field) field.value = store.filters[name];
  }
  reloadList();
  renderViews();
}

function sameFilters(filters) {
  return FILTER_NAMES.every((name) => (filters[name] || (name === "view" ? defaultView : "")) === (store.filters[name] || ""));
}

function viewButton(label, count, current, choose) {
  const li = document.createElement("li");
  const button = document.createElement("button");
  button.type = "button";
  button.className = `view${current ? " current" : ""}`;
  button.setAttribute("aria-pressed", String(current));
  const name = document.createElement("span");
  name.textContent = label;
  button.append(name);
  if (count !== undefined) {
    const badge = document.createElement("span");
    badge.className = "view-count";
    badge.textContent = String(count);
    badge.setAttribute("aria-label", `${count} waiting`);
    button.append(badge);
  }
  button.addEventListener("click", choose);
  li.append(button);
  return li;
}

export function renderViews() {
  const onlyView = FILTER_NAMES.every((n) => n === "view" || !store.filters[n]);
  const items = Object.entries(allViews).map(([name, label]) => viewButton(label, store.counts[name],
    onlyView && store.filters.view === name, () => applyFilters({ view: name })));
  // The person's own views fold under one chip ("My views"), so that thirty of them do not
  // push the list out of sight; the one that matches the filters (the first) is current.
  if (savedViews.length) {
    const current = onlyView ? null : savedViews.find((v) => sameFilters(v.filters));
    const mine = document.createElement("li");
    const box = document.createElement("details");
    box.className = "my-views";
    box.open = myViewsOpen;
    box.addEventListener("toggle", () => { myViewsOpen = box.open; });
    const summary = document.createElement("summary");
    summary.className = `view${current ? " current" : ""}`;
    summary.textContent = current ? `My views: ${current.name}` : `My views (${savedViews.length})`;
    const list = document.createElement("ul");
    for (const saved of savedViews) {
      const li = viewButton(saved.name, undefined, saved === current, () => applyFilters(saved.filters));
      li.classList.add("saved");
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "link small";
      remove.textContent = "Delete";
      remove.setAttribute("aria-label", `Delete the view ${saved.name}`);
      remove.addEventListener("click", () => { if (window.confirm(`Delete the view “${saved.name}”?`)) deleteView(saved); });
      li.append(remove);
      list.append(li);
    }
    box.append(summary, list);
    mine.append(box);
    items.push(mine);
  }
  $("view-list").replaceChildren(...items);
}
let myViewsOpen = false;

async function deleteView(saved) {
  const response = await fetch(`/inbox/views/${saved.id}/delete`, { method: "POST", headers: { "X-CSRFToken": csrfToken() }, credentials: "same-origin" });
  if (response.ok) { savedViews = savedViews.filter((v) => v.id !== saved.id); renderViews(); }
}

$("save-view").addEventListener("submit", async (event) => {
  event.preventDefault();
  const data = new FormData();
  data.set("name", $("save-view-name").value);
  for (const name of FILTER_NAMES) if (store.filters[name]) data.set(name, store.filters[name]);
  const response = await fetch("/inbox/views", { method: "POST", body: data, headers: { "X-CSRFToken": csrfToken() }, credentials: "same-origin" });
  const answer = await response.json();
  $("save-view-error").hidden = response.ok;
  if (!response.ok) { $("save-view-error").textContent = answer.error.message; return; }
  savedViews = [...savedViews, answer.view].sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true }));
  $("save-view-name").value = "";
  $("save-view-box").open = false;
  renderViews();
});

// The Mentions view is offered in the view select too (list.js fills it with the views of
// filters.VIEWS when the page starts: added after that, once).
function offerPersonalViews() {
  for (const [name, label] of Object.entries(page.personal_views || {})) {
    if (![...$("f-view").options].some((o) => o.value === name)) $("f-view").append(new Option(label, name));
  }
}
$("filters").addEventListener("input", () => setTimeout(renderViews)); // after list.js read it

// --- frames --------------------------------------------------------------------------------
export function setCounts(counts) {
  store.counts = counts;
  renderViews();
setTimeout(offerPersonalViews); // after inbox.js's setupFilters
}

export function seenElsewhere(frame) {
  setRead({ [frame.conversation]: frame.read_seq });
  if (!frame.ref) store.unreadMentions.delete(frame.conversation); // its mentions up to there are read
  changed("list");
}

export function mentioned(frame) {
  store.unreadMentions.add(frame.conversation);
  if (store.filters.view === "mentions") reloadList();
}

// --- unread: what this console shows me is seen --------------------------------------------
function markSeen() {
  const c = selected();
  const last = store.thread.lastSeq;
  if (!c || !last || document.visibilityState !== "visible" || !socket.isOpen) return;
  if ((store.read.get(c.id) || 0) >= last) return;
  store.read.set(c.id, last);
  store.unreadMentions.delete(c.id);
  socket.send({ type: "seen", conversation: c.id, seq: last });
  changed("list");
}
on("pane", markSeen);
document.addEventListener("visibilitychange", markSeen);

// --- a link straight to a note (/inbox/<id>/#seq-<n>, a mention's) --------------------------
let target = location.hash;
let highlighted = null; // the note linked to: marked again each time the thread is drawn
window.addEventListener("hashchange", () => { target = location.hash; changed("pane"); });
on("pane", () => {
  if (highlighted) document.getElementById(highlighted)?.classList.add("target");
  const match = target.match(/^#seq-(\d+)$/);
  if (!match) return;
  const item = document.getElementById(`seq-${match[1]}`);
  if (!item) return; // not drawn yet: the next drawing tries again
  target = "";
  highlighted = item.id;
  item.classList.add("target");
  item.setAttribute("tabindex", "-1");
  item.scrollIntoView({ block: "center" });
  item.focus({ preventScroll: true });
});

// --- Resolve (the `e` shortcut's button): the stage move, when the stage table allows it ----
on("pane", () => {
  const c = selected();
  const allowed = Boolean(c && (page.moves[c.stage] || []).includes("resolved"));
  $("resolve").hidden = !allowed;
  $("resolve").disabled = !allowed;
});
$("resolve").addEventListener("click", async () => {
  const c = selected();
  if (!c) return;
  showError("");
  const reply = await act({ type: "move", conversation: c.id, to: "resolved", expected: c.stage });
  if (reply) { store.metrics = reply.metrics; changed("pane"); }
});

renderViews();
setTimeout(offerPersonalViews); // after inbox.js's setupFilters
