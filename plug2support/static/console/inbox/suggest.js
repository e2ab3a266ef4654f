// The composer's suggestions while typing (M1–M3): `/` at the start or after a space searches
// the saved replies, `:` and two letters the emoji shortcodes, `@` in a private note the
// teammates. One popover (combobox.js) above the field; choosing replaces what was typed
// from the trigger to the caret.
import { Combobox } from "./combobox.js";
import { field, noteMode, replaceRange } from "./editing.js";
import { loadEmoji, rememberEmoji, searchEmoji } from "./emoji.js";
import { teammates } from "./mentions.js";
import { attachFiles } from "./pending.js";
import { replyOption, searchReplies, useReply } from "./savedreplies.js";
import { showError } from "./server.js";
import { store } from "./store.js";

const TRIGGERS = [
  { kind: "reply", pattern: /(?:^|\s)(\/)([^\s/]*)$/u },
  { kind: "emoji", pattern: /(?:^|[\s(])(:)([\p{L}\p{N}_+-]{2,})$/u },
  { kind: "mention", pattern: /(?:^|[\s(])(@)([\p{L}\p{N}._-]*)$/u, when: noteMode },
];

const status = document.getElementById("suggest-status");
let token = null; // {kind, start, end, query}: what the popover is for
let dismissed = null; // "kind:start" closed with Escape: not reopened until another trigger
let asked = 0;

const popover = new Combobox(field, document.getElementById("suggestions"), {
  onChoose: choose,
  onDismiss() { if (token) dismissed = `${token.kind}:${token.start}`; say(""); },
});

function currentToken() {
  if (field.selectionStart !== field.selectionEnd) return null;
  const before = field.value.slice(0, field.selectionStart);
  for (const trigger of TRIGGERS) {
    const match = trigger.pattern.exec(before);
    if (match && (!trigger.when || trigger.when())) {
      const query = match[2];
      return { kind: trigger.kind, start: before.length - query.length - 1, end: before.length, query };
    }
  }
  return null;
}

function say(text) { status.textContent = text; }

const renderers = {
  reply: replyOption,
  emoji: (row) => `${row.e}  :${row.code}:`,
  mention: (member) => `@${member.name}`,
};

async function itemsFor(t) {
  if (t.kind === "reply") return searchReplies(t.query);
  if (t.kind === "emoji") return searchEmoji(await loadEmoji(), t.query, 8);
  return teammates(t.query).slice(0, 8);
}

// Looked at after every edit and caret move.
export async function update() {
  const t = currentToken();
  const mine = ++asked;
  if (!t || dismissed === `${t.kind}:${t.start}` || field.disabled) {
    if (!t) dismissed = null;
    token = null;
    popover.close();
    return;
  }
  const items = await itemsFor(t);
  if (mine !== asked) return; // typed on meanwhile: a newer look answers
  token = t;
  popover.show(items, renderers[t.kind]);
  say(items.length ? `${items.length} suggestions: arrows to choose, Enter to insert, Escape to close` : "");
}

async function choose(item) {
  const t = token;
  token = null;
  say("");
  if (t.kind === "emoji") { replaceRange(item.e, t.start, t.end); rememberEmoji(item.e); return; }
  if (t.kind === "mention") { replaceRange(`@${item.name} `, t.start, t.end); return; }
  // A saved reply: the `/search` goes, the reply (variables filled by the server) comes.
  replaceRange("", t.start, t.end);
  const used = await useReply(item, store.selectedId);
  if (!used) { showError("This saved reply could not be used. Try again."); return; }
  replaceRange(used.text, t.start, t.start);
  attachFiles(used.files);
}

export function handleKey(event) { return popover.handleKey(event); }

field.addEventListener("input", update);
field.addEventListener("click", update);
field.addEventListener("keyup", (event) => {
  if (["ArrowLeft", "ArrowRight", "Home", "End"].includes(event.key)) update();
});
field.addEventListener("blur", () => { asked += 1; token = null; popover.close(); });
