// Emoji (M2): the list the product serves (GET /console/emoji.json, cached a week), a search
// over names and :shortcodes:, the ones this person used recently first, and the picker — a
// searchable grid under the toolbar's emoji button.
import { Combobox } from "./combobox.js";
import { field, insertAtCaret } from "./editing.js";

const RECENT_KEY = "p2s:emoji:recent";
const RECENT_MAX = 24;
let loading = null;

export function loadEmoji() {
  loading ||= fetch("/console/emoji.json", { credentials: "same-origin" })
    .then((r) => (r.ok ? r.json() : { emoji: [] })).then((data) => data.emoji)
    .catch(() => { loading = null; return []; });
  return loading;
}

export function recentEmoji() {
  try { return JSON.parse(localStorage.getItem(RECENT_KEY)) || []; } catch { return []; }
}

export function rememberEmoji(char) {
  const recent = [char, ...recentEmoji().filter((e) => e !== char)].slice(0, RECENT_MAX);
  try { localStorage.setItem(RECENT_KEY, JSON.stringify(recent)); } catch { /* full or off */ }
}

// The matches for `query`, best first: a shortcode that is the query, then one that starts
// with it, then a word of the name that does, then any part; recently used ones first within
// each rank, the served order after that. Each match says which shortcode it matched (`code`).
export function searchEmoji(all, query, limit = Infinity) {
  const q = query.toLowerCase().replace(/^:|:$/g, "").replace(/\s+/g, "_");
  const recent = new Map(recentEmoji().map((e, i) => [e, i]));
  const ranked = [];
  for (const [order, row] of all.entries()) {
    let rank = 4;
    let code = row.s[0];
    for (const s of row.s) {
      const r = s === q ? 0 : s.startsWith(q) ? 1 : 4;
      if (r < rank) { rank = r; code = s; }
    }
    if (rank > 1) {
      const name = row.n.replace(/\s+/g, "_");
      if (name.split("_").some((w) => w.startsWith(q))) rank = 2;
      else if (name.includes(q) || row.s.some((s) => s.includes(q))) rank = 3;
    }
    if (rank < 4) ranked.push({ ...row, code, key: [rank, recent.get(row.e) ?? RECENT_MAX, order] });
  }
  ranked.sort((a, b) => a.key[0] - b.key[0] || a.key[1] - b.key[1] || a.key[2] - b.key[2]);
  return ranked.slice(0, limit);
}

// The picker: recently used, then all, or the matches of its search.
const toggle = document.getElementById("emoji-toggle");
const panel = document.getElementById("emoji-panel");
const search = document.getElementById("emoji-q");
const none = document.getElementById("emoji-none");
const grid = new Combobox(search, document.getElementById("emoji-grid"), {
  columns: 8,
  label: "Emoji",
  onChoose(row) { openPicker(false); insertAtCaret(row.e); rememberEmoji(row.e); },
  onDismiss() { openPicker(false); field.focus(); },
});

// A cell shows the emoji and is named by its name (title: its shortcode).
function cell(row) {
  const glyph = Object.assign(document.createElement("span"), { textContent: row.e, title: `:${row.code || row.s[0]}:` });
  glyph.setAttribute("aria-hidden", "true");
  const name = Object.assign(document.createElement("span"), { className: "sr-only", textContent: row.n });
  const both = document.createDocumentFragment();
  both.append(glyph, name);
  return both;
}

async function fill() {
  const all = await loadEmoji();
  const q = search.value.trim();
  let rows;
  if (q) rows = searchEmoji(all, q);
  else {
    const byChar = new Map(all.map((r) => [r.e, r]));
    const recent = recentEmoji().map((e) => byChar.get(e)).filter(Boolean);
    const seen = new Set(recent.map((r) => r.e));
    rows = [...recent, ...all.filter((r) => !seen.has(r.e))];
  }
  none.hidden = rows.length > 0;
  grid.show(rows, cell);
}

function openPicker(shown) {
  panel.hidden = !shown;
  toggle.setAttribute("aria-expanded", String(shown));
  if (shown) { search.value = ""; fill(); search.focus(); } else grid.close();
}

toggle.addEventListener("click", () => openPicker(panel.hidden));
search.addEventListener("input", fill);
search.addEventListener("keydown", (event) => {
  if (!grid.handleKey(event) && event.key === "Escape") { openPicker(false); field.focus(); }
});
panel.addEventListener("focusout", (event) => {
  if (!panel.contains(event.relatedTarget) && event.relatedTarget !== toggle) openPicker(false);
});
