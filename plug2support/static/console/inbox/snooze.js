// Snooze (M4) in the conversation's header: the menu of presets (the server reads them in
// the company's time zone: the conversation's widget's) and a picked date and time (the
// operator's own clock), the banner above the thread while it is snoozed, and Wake now.
// The list's badge uses `snoozeLabel`. docs/protocol.md §5, `snooze`.
import { act, showError } from "./server.js";
import { on, page, selected, store } from "./store.js";

const $ = (id) => document.getElementById(id);
const button = $("snooze-button");
const menu = $("snooze-menu");
// Stages a conversation can be snoozed in (stages.SNOOZABLE).
const SNOOZABLE = new Set(["new", "waiting_on_user", "needs_response", "hold"]);
const YEAR_MS = 365 * 24 * 3600 * 1000;

export function snoozeLabel(iso) {
  return new Date(iso).toLocaleString([], { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
}

// A datetime-local value (local wall clock, minutes) for a Date.
function localValue(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

function setOpen(open) {
  menu.hidden = !open;
  button.setAttribute("aria-expanded", String(open));
  if (!open) return;
  const now = new Date();
  $("snooze-at").min = localValue(now);
  $("snooze-at").max = localValue(new Date(now.getTime() + YEAR_MS));
  if (!$("snooze-at").value) $("snooze-at").value = localValue(new Date(now.getTime() + 3600 * 1000));
  const c = selected();
  const widget = c && page.widgets.find((w) => w.id === c.widget.id);
  $("snooze-zone").textContent = widget ? `Presets in ${widget.timezone} (${widget.name})` : "Presets in the company's time zone";
  // After 18:00 there (the presets' zone), "this evening" is tomorrow's (as the server reads it).
  const hour = Number(new Intl.DateTimeFormat("en-GB", { hour: "numeric", hourCycle: "h23", ...(widget ? { timeZone: widget.timezone } : {}) }).format(now));
  menu.querySelector("[data-preset=this_evening]").textContent = hour >= 18 ? "Tomorrow evening, 18:00" : "This evening, 18:00";
  menu.querySelector("button").focus();
}

async function snooze(options) {
  const reply = await act({ type: "snooze", conversation: store.selectedId, ...options });
  if (reply) { setOpen(false); button.focus(); }
}

button.addEventListener("click", () => setOpen(menu.hidden));
for (const choice of menu.querySelectorAll("[data-preset]")) {
  choice.addEventListener("click", () => snooze({ preset: choice.dataset.preset }));
}
$("snooze-pick").addEventListener("submit", (event) => {
  event.preventDefault();
  const at = new Date($("snooze-at").value);
  if (Number.isNaN(at.getTime())) { showError("Pick a date and a time."); return; }
  snooze({ until: at.toISOString() });
});
menu.addEventListener("keydown", (event) => {
  if (event.key === "Escape") { setOpen(false); button.focus(); }
});
document.addEventListener("click", (event) => {
  if (!menu.hidden && !menu.parentElement.contains(event.target)) setOpen(false);
});
$("wake").addEventListener("click", () => act({ type: "snooze", conversation: store.selectedId, wake: true }));

function render() {
  const c = selected();
  if (!c) { setOpen(false); return; }
  const snoozed = Boolean(c.snoozed_until);
  $("snoozed-banner").hidden = !snoozed;
  if (snoozed) $("snoozed-text").textContent = `Snoozed until ${snoozeLabel(c.snoozed_until)}`;
  button.disabled = !SNOOZABLE.has(c.stage);
  // Snoozing a snoozed conversation moves its time; the banner says it is snoozed.
  button.title = snoozed ? "Snooze until another time" : "Snooze until a time";
}
on("pane", render);
