// M9: a contact's custom attributes and the notes on the contact and its org, drawn into the
// sidebar's two sections after each render (the `sidebar:rendered` event, contract in
// ISSUE 19: detail.data.who.fields, else fetched from /console/contacts/<id>/fields.json).
// Edits post to the contacts app's endpoints (docs/protocol.md, "Contact attributes and
// notes"); each answer is the new fields, drawn again.
import { me } from "./store.js";

function csrfToken() {
  const match = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

async function post(url, fields) {
  const body = new FormData();
  for (const [k, v] of Object.entries(fields)) body.set(k, v);
  const response = await fetch(url, { method: "POST", body, headers: { "X-CSRFToken": csrfToken() }, credentials: "same-origin" });
  const answer = await response.json().catch(() => ({ error: { message: "The server did not answer." } }));
  return { ok: response.ok, answer };
}

function attributeInput(a) {
  if (a.type === "list" || a.type === "yes_no") {
    const options = a.type === "list" ? a.choices.map((c) => [c, c]) : [["true", "Yes"], ["false", "No"]];
    const select = el("select", { name: a.key }, new Option("—", ""), ...options.map(([v, l]) => new Option(l, v)));
    select.value = a.value || "";
    return select;
  }
  const type = a.type === "number" ? "text" : a.type === "date" ? "date" : "text";
  return el("input", { name: a.key, type, value: a.value || "", inputMode: a.type === "number" ? "decimal" : "text" });
}

function renderAttributes(section, ctx, fields) {
  const error = el("p", { className: "error small", role: "alert", hidden: true });
  const rows = fields.attributes.map((a) => {
    const input = attributeInput(a);
    input.id = `attr-${a.key}`;
    input.addEventListener("change", async () => {
      const { ok, answer } = await post(`/console/contacts/${ctx.contact}/attributes`, { key: a.key, value: input.value });
      error.hidden = ok;
      if (!ok) { error.textContent = answer.error.message; return; }
      renderAttributes(section, ctx, answer); // the notes stay as they are (a note being typed)
    });
    const source = a.source ? el("span", { className: "muted small", textContent: a.source === "verified" ? " ✓ verified" : a.source === "claim" ? " (unverified)" : "" }) : "";
    return el("div", { className: "attr-row" }, el("label", { htmlFor: input.id, textContent: a.label }), input, source);
  });
  section.replaceChildren(el("h3", { textContent: "Attributes" }),
    ...(rows.length ? rows : [el("p", { className: "muted small", textContent: "No attributes defined." })]), error);
}

function noteList(ctx, kind, notes) {
  const targetId = kind === "contacts" ? ctx.contact : ctx.org;
  const error = el("p", { className: "error small", role: "alert", hidden: true });
  const text = el("textarea", { rows: 2, maxLength: 2000, id: `note-${kind}` });
  const form = el("form", { className: "note-form" },
    el("label", { htmlFor: text.id, textContent: kind === "contacts" ? "Note on this person" : "Note on their org" }),
    text, el("button", { className: "button small", type: "submit", textContent: "Add note" }), error);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const { ok, answer } = await post(`/console/${kind}/${targetId}/notes`, { body: text.value });
    error.hidden = ok;
    if (!ok) { error.textContent = answer.error.message; return; }
    const notes = ctx.root.querySelector('section[data-part="notes"]');
    if (notes) renderNotes(notes, ctx, answer);
  });
  const items = notes.map((n) => {
    const meta = el("p", { className: "muted small", textContent: `${n.author.name} · ${new Date(n.created_at).toLocaleString()}` });
    if (n.author.id === ctx.me) {
      const remove = el("button", { className: "linklike danger", type: "button", textContent: "Delete" });
      remove.addEventListener("click", async () => {
        const { ok } = await post(`/console/notes/${n.id}/delete`, {});
        if (ok) refresh(ctx);
      });
      meta.append(" ", remove);
    }
    return el("li", { className: "note" }, el("p", { textContent: n.body }), meta);
  });
  return [form, el("ul", { className: "plain notes-list" }, ...items)];
}

function renderNotes(section, ctx, fields) {
  const parts = [el("h3", { textContent: "Notes" })];
  if (ctx.contact) parts.push(...noteList(ctx, "contacts", fields.notes.contact));
  if (ctx.org) parts.push(...noteList(ctx, "orgs", fields.notes.org));
  section.replaceChildren(...parts);
}

function draw(ctx, fields) {
  const attributes = ctx.root.querySelector('section[data-part="attributes"]');
  const notes = ctx.root.querySelector('section[data-part="notes"]');
  if (attributes && ctx.contact) renderAttributes(attributes, ctx, fields);
  if (notes && (ctx.contact || ctx.org)) renderNotes(notes, ctx, fields);
}

async function refresh(ctx) {
  if (!ctx.contact) return;
  const response = await fetch(`/console/contacts/${ctx.contact}/fields.json`, { credentials: "same-origin" });
  if (response.ok) draw(ctx, await response.json());
}

document.addEventListener("sidebar:rendered", (event) => {
  const { data, root } = event.detail || {};
  const who = (data && data.who) || {};
  const ctx = { root, contact: who.contact ? who.contact.id : null, org: who.org ? who.org.id : null, me: me.id };
  if (!root) return;
  if (who.fields) draw(ctx, who.fields);
  else refresh(ctx);
});
