// One pane at a time on a phone, the sidebar as a panel on a tablet (M11; the widths are
// layout.css's). The panes are states of one page: moving between them uses the history
// (so the phone's back gesture walks back through them) and never reloads, so the socket,
// the drafts and the thread stay as they are.
//   list ──open──▶ conversation ──Details──▶ side        (each a history entry)
// On a wider screen the same calls only open and close the sidebar's panel.
import { store } from "./store.js";

const phone = window.matchMedia("(max-width: 767.98px)");
const wide = window.matchMedia("(min-width: 1200px)");
const body = document.body;
const panel = document.getElementById("side-panel");
const detailsButton = document.getElementById("show-side");
const headings = { list: "inbox-title", conversation: "pane-title", side: "side-title" };

function conversationPath() {
  return location.pathname.match(/^\/inbox\/(\d+)\//);
}

// Moves to a pane; `focus`: a person asked, so their screen reader lands on its heading.
export function showPane(pane, { focus = false } = {}) {
  if (pane !== "list" && store.selectedId == null) pane = "list";
  body.dataset.pane = pane;
  for (const button of document.querySelectorAll("#pane-nav [data-pane]")) {
    const here = button.dataset.pane === pane;
    if (here) button.setAttribute("aria-current", "true");
    else button.removeAttribute("aria-current");
    button.disabled = button.dataset.pane !== "list" && store.selectedId == null;
  }
  const open = pane === "side";
  panel.classList.toggle("open", open);
  detailsButton.setAttribute("aria-expanded", String(open));
  if (focus) document.getElementById(headings[pane])?.focus({ preventScroll: true });
}

// What the history entry says is showing (the entry's state, or the address alone).
function paneOfEntry() {
  if (history.state?.pane === "side") return "side";
  return conversationPath() ? "conversation" : "list";
}

function openSide() {
  if (store.selectedId == null) return;
  if (wide.matches) return;
  if (body.dataset.pane !== "side") history.pushState({ id: store.selectedId, pane: "side" }, "", location.href);
  showPane("side", { focus: true });
}

function back() {
  // Every pane past the list was entered by a history entry of ours (see the start below).
  if (body.dataset.pane === "list") return;
  history.back();
}

// A conversation opened (a tap in the list, a shortcut, a link, the history).
document.addEventListener("conversation:opened", (event) => {
  showPane(paneOfEntry(), { focus: event.detail.byPerson });
});

window.addEventListener("popstate", () => {
  // inbox.js opens the entry's conversation; this shows the entry's pane.
  showPane(paneOfEntry(), { focus: true });
});

document.getElementById("pane-nav").addEventListener("click", (event) => {
  const button = event.target.closest("[data-pane]");
  if (!button || button.disabled) return;
  const want = button.dataset.pane;
  const now = body.dataset.pane;
  if (want === now) return;
  if (want === "side") openSide();
  else if (want === "list" || (want === "conversation" && now === "side")) back();
  else if (want === "conversation") {
    // Back to the conversation still open (not open(): it is subscribed already).
    history.pushState({ id: store.selectedId }, "", `/inbox/${store.selectedId}/`);
    showPane("conversation", { focus: true });
  }
});

detailsButton.addEventListener("click", () => {
  if (body.dataset.pane === "side") back(); else openSide();
});
const more = document.getElementById("show-more");
more.addEventListener("click", () => {
  const open = document.getElementById("pane-conversation").classList.toggle("show-more-open");
  more.setAttribute("aria-expanded", String(open));
});
for (const id of ["pane-back", "side-back", "side-close"]) document.getElementById(id).addEventListener("click", back);
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && body.dataset.pane === "side" && !wide.matches && !event.defaultPrevented) back();
});

// The keyboard: the browser shrinks the page (interactive-widget=resizes-content) where it
// can; where it only shrinks the visual viewport (Safari), the page follows that height, so
// the composer sits on the keyboard. While one writes, the bottom bar gives its room.
function fitViewport() {
  const height = window.visualViewport ? window.visualViewport.height : window.innerHeight;
  document.documentElement.style.setProperty("--app-height", `${Math.round(height)}px`);
}
// The visual viewport's resize covers the window's too; without one, the window's.
(window.visualViewport || window).addEventListener("resize", fitViewport);
fitViewport();
const reply = document.getElementById("reply");
reply.addEventListener("focus", () => body.classList.add("composing"));
reply.addEventListener("blur", () => body.classList.remove("composing"));

// Start: a phone that opens /inbox/12/ directly gets the list as the entry before it, so
// "back" (the button, the gesture) always lands on the list rather than leaving the console.
if (phone.matches && conversationPath() && history.state?.pane !== "side" && !history.state?.entered) {
  const path = location.pathname;
  history.replaceState({ pane: "list", entered: true }, "", "/inbox/");
  history.pushState({ id: store.selectedId, entered: true }, "", path);
}
showPane(paneOfEntry());
