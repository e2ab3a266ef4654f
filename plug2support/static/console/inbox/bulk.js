// Bulk actions (M5) on the inbox list: a checkbox per row (Shift-click selects the range
// from the last one clicked), "Select all in view", and the bar that acts on the selection:
// `POST /console/conversations/bulk` runs each row through its own action and answers which
// did not move and why (docs/protocol.md, "Bulk actions"). The rows' changes come back as
// live summaries, as any action's do; a row that leaves the list leaves the selection.
import { listed, me, on, page, store } from "./store.js";

const $ = (id) => document.getElementById(id);
const selection = new Set();
let anchor = null; // the row clicked last: Shift-click selects from it

function csrfToken() {
  const match = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

// The checkbox of a row, in its label (list.js puts it beside the row's link, never inside it).
export function pickBox(c) {
  const box = document.createElement("input");
  box.type = "checkbox";
  box.className = "pick";
  box.dataset.id = c.id;
  box.checked = selection.has(c.id);
  box.setAttribute("aria-label", `Select the conversation with ${c.visitor.name}`);
  box.addEventListener("click", (event) => {
    const ids = listed().map((each) => each.id);
    const from = anchor === null ? -1 : ids.indexOf(anchor);
    const to = ids.indexOf(c.id);
    const range = event.shiftKey && from >= 0 ? ids.slice(Math.min(from, to), Math.max(from, to) + 1) : [c.id];
    for (const id of range) { if (box.checked) selection.add(id); else selection.delete(id); }
    anchor = c.id;
    render();
  });
  // In a label of its own: the area a finger can hit is the label's (44 px on a phone).
  const area = document.createElement("label");
  area.className = "pick-area";
  area.append(box);
  return area;
}

// What the bar's second control offers for each action.
function choices(action) {
  // Only owners and admins hand conversations to others (the server refuses the rest).
  if (action === "assign") return [[String(me.id), "Me"], ...(page.is_admin ? page.members.filter((m) => m.id !== me.id).map((m) => [String(m.id), m.name]) : [])];
  if (action === "tag" || action === "untag") return [...store.tags.values()].map((t) => [String(t.id), t.name]);
  if (action === "move") return page.stages.map((s) => [s.value, s.label]);
  if (action === "snooze") return [["in_1_hour", "In 1 hour"], ["this_evening", "This evening, 18:00"], ["tomorrow_morning", "Tomorrow, 9:00"], ["next_monday", "Next Monday, 9:00"]];
  return [];
}

function fillChoices() {
  $("bulk-value").replaceChildren(...choices($("bulk-action").value).map(([v, l]) => new Option(l, v)));
}

function render() {
  const shown = new Set(listed().map((c) => c.id));
  for (const id of [...selection]) if (!shown.has(id)) selection.delete(id);
  for (const box of document.querySelectorAll("#conversations .pick")) box.checked = selection.has(Number(box.dataset.id));
  const all = $("select-all");
  all.checked = shown.size > 0 && selection.size === shown.size;
  all.indeterminate = selection.size > 0 && selection.size < shown.size;
  all.disabled = shown.size === 0;
  $("bulk-bar").hidden = selection.size === 0;
  $("bulk-count").textContent = `${selection.size} selected`;
}
on("list", render);

function nameOf(id) {
  const c = store.conversations.get(id);
  return c ? c.visitor.name : `#${id}`;
}

function showResult(text, refused = []) {
  const box = $("bulk-result");
  const list = document.createElement("ul");
  for (const r of refused) {
    const li = document.createElement("li");
    li.textContent = `${nameOf(r.id)}: ${r.message}`;
    list.append(li);
  }
  box.replaceChildren(text, ...(refused.length ? [list] : []));
  box.hidden = false;
}

async function run(action, options = {}) {
  const ids = [...selection];
  if (!ids.length) return;
  let data;
  try {
    const response = await fetch("/console/conversations/bulk", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify({ ids, action, ...options }),
    });
    data = await response.json();
    if (!response.ok) { showResult(data.error ? data.error.message : "That did not work."); return; }
  } catch {
    showResult("Not connected. Try again in a moment.");
    return;
  }
  for (const id of data.changed_ids) selection.delete(id); // the refused stay selected
  const done = `${data.changed} of ${ids.length} changed.`;
  showResult(data.refused.length ? `${done} ${data.refused.length} did not:` : done, data.refused);
  render();
}

$("select-all").addEventListener("change", (event) => {
  for (const c of listed()) { if (event.target.checked) selection.add(c.id); else selection.delete(c.id); }
  anchor = null;
  render();
});
$("bulk-action").addEventListener("change", fillChoices);
$("bulk-resolve").addEventListener("click", () => run("resolve"));
$("bulk-clear").addEventListener("click", () => { selection.clear(); anchor = null; $("bulk-result").hidden = true; render(); });
$("bulk-bar").addEventListener("submit", (event) => {
  event.preventDefault();
  const action = $("bulk-action").value;
  const value = $("bulk-value").value;
  if (!value) return;
  if (action === "assign") run(action, { to: Number(value) });
  else if (action === "tag" || action === "untag") {
    const tag = store.tags.get(Number(value));
    const extra = action === "tag" && tag && tag.takes_value ? { value: prompt(`${tag.name}: which value?`) || "" } : {};
    run(action, { tag: Number(value), ...extra });
  } else if (action === "move") run(action, { to: value });
  else run(action, { preset: value });
});
fillChoices();
