// The sidebar beside the thread (M8): who, where, history, from
// GET /console/conversations/<id>/sidebar.json (protocol.md). Re-fetched when the open
// conversation changes; the "visitor_page" frame updates the current page live. Sections
// are <details>, their open state remembered in localStorage. After each render it
// dispatches "sidebar:rendered" (helper contract: attributes and notes fill their sections).
// An unverified person's name is edited in place ("Edit name": POST .../name, whose answer
// is the new sidebar); the other consoles get it by the `conversation` frame's summary.
import { changed, on, selected, store } from "./store.js";

const side = document.getElementById("side");
const NOT = "not collected";
const NAME_MAX = 150; // contacts.models.NAME_MAX
let shownId = null;
let data = null;
let editing = false; // the name's form is open: a live update does not close it

function csrfToken() {
  const match = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

function el(tag, attrs = {}, ...kids) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const kid of kids) node.append(kid ?? "");
  return node;
}

// `missing`: what an empty value means ("none": known to be empty; else not collected).
function row(label, value, missing = NOT) {
  return [el("dt", {}, label), el("dd", value ? {} : { class: "muted" }, value || missing)];
}

// The Who section's name: the text, and for an unverified person the inline edit.
function nameCell(who) {
  const cell = el("dd", { id: "side-name" });
  const text = el("span", { id: "side-name-text" }, who.name);
  if (!who.name_editable) { cell.append(text); return cell; }
  const edit = el("button", { type: "button", class: "linklike side-edit-name", "aria-label": "Edit name" }, "Edit name");
  cell.append(text, " ", edit);
  edit.addEventListener("click", () => openNameForm(cell, who));
  return cell;
}

function openNameForm(cell, who) {
  editing = true;
  const input = el("input", { id: "side-name-input", name: "name", type: "text", maxlength: String(NAME_MAX), autocomplete: "off" });
  input.value = who.name;
  const error = el("p", { class: "error small", role: "alert", id: "side-name-error" });
  error.hidden = true;
  const form = el("form", { class: "side-name-edit", "aria-label": "Edit name" },
    el("div", { class: "field" }, el("label", { for: input.id, class: "sr-only" }, "Name"), input),
    el("button", { type: "submit", class: "button small" }, "Save"), " ",
    el("button", { type: "button", class: "button small secondary", "data-action": "cancel" }, "Cancel"), error);
  const close = () => { editing = false; render(); side.querySelector(".side-edit-name")?.focus(); };
  form.querySelector('[data-action="cancel"]').addEventListener("click", close);
  form.addEventListener("keydown", (event) => { if (event.key === "Escape") { event.preventDefault(); close(); } });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const id = shownId;
    const body = new FormData();
    body.set("name", input.value);
    let answer = null;
    let ok = false;
    try {
      const response = await fetch(`/console/conversations/${id}/name`, { method: "POST", body, headers: { "X-CSRFToken": csrfToken() }, credentials: "same-origin" });
      ok = response.ok;
      answer = await response.json();
    } catch { answer = null; }
    if (!ok || !answer || answer.error) {
      error.textContent = answer && answer.error ? answer.error.message : "The name was not saved: try again.";
      error.hidden = false;
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", error.id);
      input.focus();
      return;
    }
    if (shownId !== id) return;
    data = answer;
    const summary = store.conversations.get(id);
    if (summary) { summary.visitor.name = data.who.name; changed("list", "pane"); }
    close();
  });
  cell.replaceChildren(form);
  input.focus();
  input.select();
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
  const country = where.country.name ? `${where.country.name}${where.country.iso_code ? ` (${where.country.iso_code})` : ""}` : "";
  const pages = el("ol", { class: "side-pages", id: "side-pages" });
  for (const p of where.pages) pages.append(el("li", {}, el("span", { class: "side-url", title: p.url }, p.url), " ", el("time", { datetime: p.at, class: "muted small" }, when(p.at))));
  const past = el("ul", { class: "side-history" });
  for (const c of history) {
    past.append(el("li", {}, el("a", { href: c.url }, c.subject || c.preview || `#${c.id}`), ` · ${c.channel} · ${c.stage_label} · ${when(c.created_at)}`));
  }
  const tickets = el("ul", { class: "side-history", id: "side-tickets" });
  for (const t of data.tickets || []) {
    tickets.append(el("li", {}, el("a", { href: t.url }, `#${t.id} ${t.title}`), ` · ${t.stage_label}${t.conversation === data.conversation ? " · this conversation" : ""}`));
  }
  side.replaceChildren(
    section("who", "Who",
      el("dl", {}, el("dt", {}, "Name"), nameCell(who), ...row("E-mail", who.email, "not given"),
        ...row("Verified", who.verified ? "Verified by the site" : "Not verified"), ...row("Customer org", org, "none")),
      el("section", { "data-part": "attributes" }), el("section", { "data-part": "notes" })),
    section("where", "Where",
      el("dl", {}, el("dt", {}, "Current page"), el("dd", { id: "side-current", class: page ? "" : "muted" }, ...(page ? [page.title || "", el("div", { class: "side-url small muted" }, page.url)] : [NOT])),
        ...row("Referrer", where.referrer), ...row("Browser", where.browser), ...row("OS", where.os),
        ...row("Device", where.device), ...row("Language", where.language),
        ...row("Local time", local && `${local} (${where.time_zone})`), ...row("Country", country, where.country.configured ? NOT : "no GeoIP database set up")),
      el("h3", { class: "small" }, "Pages of this visit"), pages),
    section("history", "History", history.length ? past : el("p", { class: "muted" }, "No other conversations."),
      el("h3", { class: "small" }, "Tickets"),
      (data.tickets || []).length ? tickets : el("p", { class: "muted" }, "No tickets.")));
  side.hidden = false;
  document.dispatchEvent(new CustomEvent("sidebar:rendered", { detail: { data, root: side } }));
}

async function load() {
  const id = store.selectedId;
  if (id === shownId) { syncName(); return; }
  editing = false;
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
  if (!editing) render(); // else drawn when the name's form closes

});

// Another operator renamed this person: the summary (`conversation` frame) says the name.
function syncName() {
  const c = selected();
  if (!data || editing || !c || c.id !== data.conversation || c.visitor.name === data.who.name) return;
  data.who.name = c.visitor.name;
  const text = document.getElementById("side-name-text");
  if (text) text.textContent = c.visitor.name;
}

on("pane", load);
load();
