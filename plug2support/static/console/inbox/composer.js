// The composer: a reply to the visitor or a private note for the team, typed or with a file
// (docs/protocol.md §5 `message`, `note`, `typing`; §6 `POST /attachments/`).
import { newId, typingSender } from "../../widget/live.js";
import { scroller } from "./conversation.js";
import { send, showError, socket } from "./server.js";
import { changed, me, on, selected, store } from "./store.js";

const $ = (id) => document.getElementById(id);
const input = $("reply");

function noteMode() {
  return document.querySelector("input[name=mode]:checked").value === "note";
}

// Who may reply: whoever serves the visitor, or anyone while nobody does; notes are open to all.
function renderComposer() {
  const c = selected();
  if (!c) return;
  const mine = !c.served_by || c.served_by.id === me.id;
  const noting = noteMode();
  $("composer").classList.toggle("noting", noting);
  input.disabled = !mine && !noting;
  // An e-mail conversation's reply is a mail (F6): to the customer, with Cc, and a subject
  // while the conversation has none yet. A note stays in the team.
  const mailing = c.channel === "email" && !noting;
  $("email-options").hidden = !mailing;
  $("email-to").textContent = `E-mail to ${c.visitor.name}`;
  $("email-subject").hidden = $("email-subject-label").hidden = Boolean(c.subject);
  input.placeholder = noting ? "A note for the team: the visitor never sees it"
    : mine ? "Write a reply… (Enter sends, Shift+Enter for a new line)"
      : `${c.served_by.name} is serving this visitor. Switch to a private note, or ask to take over.`;
}
on("composer", renderComposer);

function emailOptions() {
  if ($("email-options").hidden) return null;
  const cc = $("email-cc").value.split(/[,;\s]+/).map((a) => a.trim()).filter(Boolean);
  const subject = $("email-subject").hidden ? "" : $("email-subject").value.trim();
  return { cc, subject };
}

function csrfToken() {
  const match = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

for (const radio of document.querySelectorAll("input[name=mode]")) radio.addEventListener("change", () => changed("pane"));

$("composer").addEventListener("submit", async (event) => {
  event.preventDefault();
  const body = input.value.trim();
  if (!body || !store.selectedId) return;
  const type = noteMode() ? "note" : "message";
  input.value = "";
  scroller.pin(); // one's own reply is always shown
  const frame = { type, conversation: store.selectedId, client_id: newId(), body };
  const email = emailOptions();
  if (email) frame.email = email;
  // Only a refusal (or logging out) gives the text back to edit.
  if (await send(frame)) { $("email-cc").value = ""; $("email-subject").value = ""; } else input.value = body;
});
const typing = typingSender(() => socket.send({ type: "typing", conversation: store.selectedId, note: noteMode() }));
input.addEventListener("input", () => { if (store.selectedId) typing(); });
$("file").addEventListener("change", async (event) => {
  const file = event.target.files[0];
  event.target.value = "";
  if (!file || !store.selectedId) return;
  const data = new FormData();
  data.append("file", file);
  const response = await fetch("/attachments/", { method: "POST", body: data, headers: { "X-CSRFToken": csrfToken() } });
  const reply = await response.json();
  if (!response.ok) { showError(reply.error.message); return; }
  const body = input.value.trim();
  input.value = "";
  const frame = { type: noteMode() ? "note" : "message", conversation: store.selectedId,
                  client_id: newId(), body, attachments: [reply.id] };
  const email = emailOptions();
  if (email && frame.type === "message") frame.email = email;
  const ok = await send(frame);
  if (!ok) input.value = body;
});
input.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); $("composer").requestSubmit(); }
});
