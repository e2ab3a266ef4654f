// The composer: a reply to the visitor or a private note for the team (docs/protocol.md §5
// `message`, `note`, `typing`), in modules: editing.js (the field), suggest.js (`/`, `:`, `@`
// completion in a combobox.js popover), emoji.js (the picker), format.js (the Markdown
// toolbar), pending.js (files to send), drafts.js (kept until sent), mentions.js, and
// savedreplies.js. This one draws it for the open conversation and sends.
import { newId, typingSender } from "../../widget/live.js";
import { scroller } from "./conversation.js";
import { draftKey, draftSent, showDraft } from "./drafts.js";
import { field as input, noteMode } from "./editing.js";
import * as format from "./format.js";
import { mentionIds } from "./mentions.js";
import { isUploading, pendingFiles, setFiles } from "./pending.js";
import { send, showError, socket } from "./server.js";
import { changed, me, on, page, selected, store } from "./store.js";
import * as suggest from "./suggest.js";

const $ = (id) => document.getElementById(id);

// Enter sends (Shift+Enter breaks the line), or only Ctrl/Cmd+Enter sends (Enter breaks it):
// each person's choice, kept in this browser.
const SEND_KEY = "p2s:composer:send-key";
const sendKey = $("send-key");
sendKey.value = localStorage.getItem(SEND_KEY) === "ctrl-enter" ? "ctrl-enter" : "enter";
sendKey.addEventListener("change", () => {
  try { localStorage.setItem(SEND_KEY, sendKey.value); } catch { /* kept for this page */ }
  changed("composer");
});

// Who may reply: whoever serves the visitor, or anyone while nobody does; notes are open to all.
function renderComposer() {
  const c = selected();
  if (!c) return;
  const mine = !c.served_by || c.served_by.id === me.id;
  const noting = noteMode();
  showDraft(draftKey(c.id, noting ? "note" : "reply"));
  $("composer").classList.toggle("noting", noting);
  input.disabled = !mine && !noting;
  for (const tool of $("composer-tools").querySelectorAll("[data-format], #saved-reply-open")) tool.disabled = input.disabled;
  // An e-mail conversation's reply is a mail (F6): to the customer, with Cc, and a subject
  // while the conversation has none yet. A note stays in the team.
  const mailing = c.channel === "email" && !noting;
  $("email-options").hidden = !mailing;
  $("email-to").textContent = c.visitor.email && c.visitor.email !== c.visitor.name
    ? `E-mail to ${c.visitor.name} <${c.visitor.email}>` : `E-mail to ${c.visitor.email || c.visitor.name}`;
  $("email-subject").hidden = $("email-subject-label").hidden = Boolean(c.subject);
  if (mailing && ccFor !== c.id) {
    // Reply to all, as mail clients do: the others the customer's latest mail went to
    // (once the thread is there to read them from).
    const others = othersOnThread(c);
    if (others) { ccFor = c.id; $("email-cc").value = others.join(", "); }
  }
  const keys = sendKey.value === "enter" ? "Enter sends, Shift+Enter for a new line" : "Ctrl+Enter sends";
  input.placeholder = noting ? `A note for the team: the visitor never sees it. @ names a teammate (${keys})`
    : mine ? `Write a reply… (${keys}; / for saved replies)`
      : `${c.served_by.name} is serving this visitor. Switch to a private note, or ask to take over.`;
}
on("composer", renderComposer);

let ccFor = null;
function othersOnThread(c) {
  const latest = store.thread.ordered().filter((e) => e.email && e.email.direction === "in").pop();
  if (!latest) return store.thread.ordered().length ? [] : null;
  const mail = latest.email;
  const everyone = [...(mail.to || []), ...(mail.cc || []), mail.from ? mail.from.address : ""];
  const customer = (c.visitor.email || c.visitor.name).toLowerCase();
  // Not the customer (the To), not our own addresses (support, reply+).
  return [...new Set(everyone.filter((a) => a && a !== customer && !a.endsWith(`@${page.inbound_domain}`)))];
}

function emailOptions() {
  if ($("email-options").hidden) return null;
  const cc = $("email-cc").value.split(/[,;\s]+/).map((a) => a.trim()).filter(Boolean);
  const subject = $("email-subject").hidden ? "" : $("email-subject").value.trim();
  return { cc, subject };
}

for (const radio of document.querySelectorAll("input[name=mode]")) radio.addEventListener("change", () => changed("pane"));

$("composer").addEventListener("submit", async (event) => {
  event.preventDefault();
  const text = input.value;
  const body = text.trim();
  const files = pendingFiles();
  if ((!body && !files.length) || !store.selectedId || input.disabled) return;
  if (isUploading()) { showError("A file is still uploading: send when it is attached."); return; }
  const note = noteMode();
  const key = draftKey(store.selectedId, note ? "note" : "reply");
  const frame = { type: note ? "note" : "message", conversation: store.selectedId, client_id: newId(), body };
  if (files.length) frame.attachments = files.map((f) => f.id);
  if (note) frame.mentions = mentionIds(body);
  const email = note ? null : emailOptions();
  if (email) frame.email = email;
  // Emptied at once; the draft stays stored until the server has the message.
  input.value = "";
  setFiles([], true);
  scroller.pin(); // one's own reply is always shown
  if (await send(frame)) {
    draftSent(key, text);
    $("email-cc").value = "";
    $("email-subject").value = "";
  } else if (store.selectedId === frame.conversation && noteMode() === note && !input.value && !pendingFiles().length) {
    // Only a refusal (or logging out) gives the text and files back to edit (in its draft).
    input.value = text;
    setFiles(files);
  }
});

const typing = typingSender(() => socket.send({ type: "typing", conversation: store.selectedId, note: noteMode() }));
input.addEventListener("input", () => { if (store.selectedId) typing(); });

input.addEventListener("keydown", (event) => {
  if (suggest.handleKey(event) || format.handleKey(event)) return;
  if (event.key !== "Enter" || event.isComposing) return;
  // Ctrl/Cmd+Enter sends in either choice.
  if (event.ctrlKey || event.metaKey || (sendKey.value === "enter" && !event.shiftKey)) {
    event.preventDefault();
    $("composer").requestSubmit();
  }
});
