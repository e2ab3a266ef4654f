// The sidebar beside the thread (M8): who, where, history, from
// GET /console/conversations/<id>/sidebar.json (protocol.md). Re-fetched when the open
// conversation changes; the "visitor_page" frame updates the current page live. Sections
// are <details>, their open state remembered in localStorage. After each render it
// dispatches "sidebar:rendered" (helper contract: attributes and notes fill their sections).
import { on, store } from "./store.js";

const side = document.getElementById("side");
const NOT = "not collected";
let shownId = null;
let data = null;

function el(tag, attrs = {}, ...kids) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const kid of kids) node.append(kid ?? "");
  return node;
}

function row(label, value) {
  return [el("dt", {}, label), el("dd", value ? {} : { class: "muted" }, value || NOT)];
}

function section(key, title, ...body) {
  const box = el("details", { class: "side-section", "data-section": key }, el("summary", {}, title), ...body);
  box.open = localStorage.getItem(`p2s.side.${key}`) !== "closed";
  box.addEventListener("toggle", () => localStorage.setItem(`p2s.side.${key}`, box.open ? "open" : "closed"));
  return box;
}

function when(iso) { return iso ? new Date(iso).toLocaleString() : ""; }

function render() {
  const { who, where, history } = data;
  const org = who.org ? `${who.org.name} (priority ${who.org.priority}${who.org.default_owner ? `, owner ${who.org.default_owner.name}` : ""})` : "";
  const page = where.current_page;
  const local = where.local_time ? new Date().toLocaleTimeString([], { timeZone: where.time_zone, hour: "2-digit", minute: "2-digit" }) : "";
  const country = where.country.configured ? where.country.name : "not configured";
  const pages = el("ol", { class: "side-pages", id: "side-pages" });
  for (const p of where.pages) pages.append(el("li", {}, el("span", { class: "side-url", title: p.url }, p.url), " ", el("time", { datetime: p.at, class: "muted small" }, when(p.at))));
  const past = el("ul", { class: "side-history" });
  for (const c of history) {
    const item = el("li", {}, el("a", { href: c.url }, c.subject || c.preview || `#${c.id}`), ` · ${c.channel} · ${c.stage_label} · ${when(c.created_at)}`);
    for (const t of c.tickets) item.append(el("div", { class: "small muted" }, `Ticket: ${t.title} (${t.stage})`));
    past.append(item);
  }
  side.replaceChildren(
    section("who", "Who",
      el("dl", {}, ...row("Name", who.name), ...row("E-mail", who.email),
        ...row("Verified", who.verified ? "Verified by the site" : "Not verified"), ...row("Customer org", org)),
      el("section", { "data-part": "attributes" }), el("section", { "data-part": "notes" })),
    section("where", "Where",
      el("dl", {}, el("dt", {}, "Current page"), el("dd", { id: "side-current", class: page ? "" : "muted" }, ...(page ? [page.title || "", el("div", { class: "side-url small muted" }, page.url)] : [NOT])),
        ...row("Referrer", where.referrer), ...row("Browser", where.browser), ...row("OS", where.os),
        ...row("Device", where.device), ...row("Language", where.language),
        ...row("Local time", local && `${local} (${where.time_zone})`), ...row("Country", country)),
      el("h3", { class: "small" }, "Pages of this visit"), pages),
    section("history", "History", history.length ? past : el("p", { class: "muted" }, "No earlier conversations.")));
  side.hidden = false;
  document.dispatchEvent(new CustomEvent("sidebar:rendered", { detail: { data, root: side } }));
}

async function load() {
  const id = store.selectedId;
  if (id === shownId) return;
  shownId = id;
  if (id == null) { side.hidden = true; side.replaceChildren(); return; }
  const answer = await fetch(`/console/conversations/${id}/sidebar.json`, { credentials: "same-origin" });
  if (!answer.ok || shownId !== id) return;
  data = await answer.json();
  render();
}

// Live: the visitor of the open conversation changed page (protocol.md "visitor_page").
document.addEventListener("visitor:page", (event) => {
  const frame = event.detail;
  if (!data || data.visitor !== frame.visitor) return;
  data.where.current_page = frame.page;
  data.where.pages.unshift(frame.page);
  render();
});

on("pane", load);
load();
