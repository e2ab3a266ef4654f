// Drafts (M2): what is typed and attached, per conversation and mode (reply or note), kept
// in this browser's localStorage until sent — across reloads, and into the other tabs
// (the `storage` event) — and shown again when the conversation or mode is opened.
import { field } from "./editing.js";
import { onFilesChanged, pendingFiles, setFiles } from "./pending.js";
import { me } from "./store.js";

const PREFIX = `p2s:draft:${me.id}:`;
const KEEP_DAYS = 30; // a draft left this long is forgotten (its files are long gone: a day)
let shown = null; // the key of the draft the composer shows

export function draftKey(conversation, mode) { return `${PREFIX}${conversation}:${mode}`; }

function read(key) {
  try { return JSON.parse(localStorage.getItem(key)) || null; } catch { return null; }
}

function write(key, text, files) {
  try {
    if (!text.trim() && !files.length) localStorage.removeItem(key);
    else localStorage.setItem(key, JSON.stringify({ text, files, at: Date.now() }));
  } catch { /* storage full or off: the draft lives as long as the page */ }
}

function apply(draft) {
  field.value = draft ? draft.text : "";
  setFiles(draft ? draft.files || [] : [], true);
}

// Shows the draft of `key` (nothing when it is the one shown already: the field is its truth).
export function showDraft(key) {
  if (key === shown) return;
  shown = key;
  apply(read(key));
}

function save() { if (shown) write(shown, field.value, pendingFiles()); }

// After a send: forgotten, unless the person went on typing into it meanwhile.
export function draftSent(key, text) {
  const now = read(key);
  if (now && now.text === text) localStorage.removeItem(key);
}

field.addEventListener("input", save);
onFilesChanged(save);
window.addEventListener("storage", (event) => {
  if (event.key === shown && !(document.hasFocus() && document.activeElement === field)) apply(read(shown));
});
for (let i = localStorage.length - 1; i >= 0; i -= 1) {
  const key = localStorage.key(i);
  if (key?.startsWith(PREFIX) && (read(key)?.at || 0) < Date.now() - KEEP_DAYS * 86400e3) localStorage.removeItem(key);
}
