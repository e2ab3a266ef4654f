// Keyboard shortcuts of the inbox (M6, issue 18 point 6). Our own forty lines rather than a
// vendored library (tinykeys, @github/hotkey): the shortcuts are single keys and one chord,
// and what they do is "click the element marked data-shortcut=<key>" (issue 18, contract
// 3), so each helper marks its own controls and nothing here knows them. A library would add
// a file and a licence for a keydown listener. Never while typing in a field; each one is
// said in an aria-live region; `?` shows them all in a <dialog>.
import { open } from "./conversation.js";
import { listed, store } from "./store.js";

const $ = (id) => document.getElementById(id);
export const SHORTCUTS = [
  ["j", "Next conversation in the list"], ["k", "Previous conversation in the list"],
  ["c", "Claim"], ["r", "Reply"], ["n", "Private note"], ["e", "Resolve"], ["t", "Tag"],
  ["s", "Snooze"], ["/", "Insert a saved reply"], ["Ctrl+K / ⌘K", "Search"], ["?", "This list"],
];

function say(text) {
  const region = $("shortcut-announcer");
  region.textContent = "";
  requestAnimationFrame(() => { region.textContent = text; }); // the same text again is said again
}

function typing(target) {
  if (!(target instanceof Element)) return false;
  if (target.isContentEditable || target.closest("textarea, select, [contenteditable]")) return true;
  return target.tagName === "INPUT" && !["radio", "checkbox", "button", "submit", "reset"].includes(target.type);
}

const usable = (el) => el && el.getClientRects().length > 0 && !el.disabled && el.getAttribute("aria-disabled") !== "true";

function press(key) {
  const el = [...document.querySelectorAll(`[data-shortcut="${CSS.escape(key)}"]`)].find(usable);
  if (!el) { say("Not available here"); return false; }
  const label = el.getAttribute("aria-label") || el.closest("label")?.textContent.trim() || el.textContent.trim() || key;
  if (el.matches("select, textarea, input:not([type=radio]):not([type=checkbox])")) el.focus();
  else { el.click(); if (el.matches("input[type=radio]")) $("reply")?.focus(); }
  say(label);
  return true;
}

function step(delta) {
  const items = listed();
  if (!items.length) { say("No conversations in this list"); return; }
  const at = items.findIndex((c) => c.id === store.selectedId);
  const next = items[Math.min(items.length - 1, Math.max(0, at < 0 ? 0 : at + delta))];
  open(next.id, true);
  document.querySelector(`#conversations a[data-id="${next.id}"]`)?.focus();
  say(`${next.visitor.name}, ${items.indexOf(next) + 1} of ${items.length}`);
}

$("cheat-sheet-list").replaceChildren(...SHORTCUTS.flatMap(([key, what]) => {
  const dt = document.createElement("dt");
  const kbd = document.createElement("kbd");
  kbd.textContent = key;
  dt.append(kbd);
  const dd = document.createElement("dd");
  dd.textContent = what;
  return [dt, dd];
}));

document.addEventListener("keydown", (event) => {
  if (event.defaultPrevented || event.isComposing) return;
  if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "k") {
    event.preventDefault();
    $("f-q").focus();
    say("Search");
    return;
  }
  if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target) || $("cheat-sheet").open) return;
  if (event.key === "?") { event.preventDefault(); $("cheat-sheet").showModal(); say("Keyboard shortcuts"); return; }
  if (event.key === "j" || event.key === "k") { event.preventDefault(); step(event.key === "j" ? 1 : -1); return; }
  if (SHORTCUTS.some(([key]) => key === event.key) && press(event.key)) event.preventDefault();
});
