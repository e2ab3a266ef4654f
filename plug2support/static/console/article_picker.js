// G1: an operator inserts a help article's link into the reply, from the composer.
const toggle = document.getElementById("insert-article");
const panel = document.getElementById("article-picker-panel");
const q = document.getElementById("article-q");
const list = document.getElementById("article-results");
const reply = document.getElementById("reply");
let asked = 0;
let timer = null;

function open(shown) {
  panel.hidden = !shown;
  toggle.setAttribute("aria-expanded", String(shown));
  if (shown) { q.value = ""; list.replaceChildren(); q.focus(); }
}

function insert(article) {
  const text = `${article.title}: ${article.url}`;
  const start = reply.selectionStart ?? reply.value.length;
  const end = reply.selectionEnd ?? reply.value.length;
  const before = reply.value.slice(0, start);
  const spacer = before && !/\s$/.test(before) ? " " : "";
  reply.value = before + spacer + text + reply.value.slice(end);
  open(false);
  reply.focus();
  reply.selectionStart = reply.selectionEnd = (before + spacer + text).length;
  reply.dispatchEvent(new Event("input", { bubbles: true })); // as typed: the draft keeps it
}

async function search() {
  const mine = ++asked;
  const text = q.value.trim();
  if (!text) { list.replaceChildren(); return; }
  const response = await fetch(`/articles/search?q=${encodeURIComponent(text)}`, { credentials: "same-origin" });
  if (mine !== asked || !response.ok) return;
  const { articles } = await response.json();
  list.replaceChildren(...(articles.length ? articles.map((article) => {
    const li = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = article.title;
    button.addEventListener("click", () => insert(article));
    li.append(button);
    return li;
  }) : [Object.assign(document.createElement("li"), { className: "muted small", textContent: "No published article matches." })]));
}

toggle.addEventListener("click", () => open(panel.hidden));
q.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(search, 150); });
q.addEventListener("keydown", (event) => {
  if (event.key === "Escape") { event.preventDefault(); open(false); toggle.focus(); }
  if (event.key === "Enter") { event.preventDefault(); list.querySelector("button")?.click(); }
});
