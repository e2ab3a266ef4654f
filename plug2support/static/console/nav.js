// The main menu as a drawer below a laptop's width (layout.css, M11): the top bar's Menu
// button (and the inbox's bottom navigation on a phone) opens it; Escape, the backdrop, the
// close button or following a link closes it. While it is open the page behind is inert, so
// a keyboard or a screen reader stays in the menu; focus returns to the button that opened it.
const shell = document.querySelector(".shell");
const nav = document.getElementById("main-nav");
const main = document.getElementById("main");
let opener = null;

function drawerMode() {
  return getComputedStyle(nav).position === "fixed";
}

function setOpen(open, from) {
  if (!shell || !nav) return;
  shell.classList.toggle("nav-open", open);
  for (const button of document.querySelectorAll("[data-nav-toggle]")) {
    button.setAttribute("aria-expanded", String(open));
  }
  if (main) main.inert = open;
  if (open) {
    opener = from || null;
    nav.querySelector("a, button")?.focus();
  } else if (opener) {
    opener.focus();
    opener = null;
  }
}

document.addEventListener("click", (event) => {
  const toggle = event.target.closest("[data-nav-toggle]");
  if (toggle) { setOpen(!shell.classList.contains("nav-open"), toggle); return; }
  if (event.target.closest("[data-nav-close]")) { setOpen(false); return; }
  if (shell?.classList.contains("nav-open") && event.target.closest("#main-nav a")) setOpen(false);
});

document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && shell?.classList.contains("nav-open")) {
    event.stopPropagation();
    setOpen(false);
  }
}, true);

// Widened past the drawer's breakpoint while open (a tablet turned): the menu is a column again.
window.matchMedia("(min-width: 1024px)").addEventListener("change", () => {
  if (!drawerMode() && shell?.classList.contains("nav-open")) setOpen(false);
});

// The menu holds the notifications' unread count; closed, its button shows the same number.
const unread = document.getElementById("unread");
function mirrorUnread() {
  for (const button of document.querySelectorAll("[data-nav-toggle]")) {
    let badge = button.querySelector(".count");
    if (!badge) {
      badge = document.createElement("span");
      badge.className = "count";
      button.append(badge);
    }
    badge.textContent = unread.textContent;
    badge.hidden = unread.hidden;
    badge.setAttribute("aria-label", `${unread.textContent} unread notifications`);
  }
}
if (unread) {
  new MutationObserver(mirrorUnread).observe(unread, { childList: true, characterData: true, subtree: true, attributes: true });
  mirrorUnread();
}
