// Saved replies (M1, docs/protocol.md §6 "Saved replies"): searched as the person types `/…`
// in the composer, then used for the open conversation — the server fills the variables
// and gives the reply's files as uploads to send.
import { csrfToken, field, insertAtCaret } from "./editing.js";

export async function searchReplies(query) {
  try {
    const response = await fetch(`/console/saved-replies.json?q=${encodeURIComponent(query)}`,
      { credentials: "same-origin" });
    return response.ok ? (await response.json()).replies : [];
  } catch { return []; }
}

// → {text, files: [{id, name, size}]}, or null when refused (shown by the caller).
export async function useReply(reply, conversation) {
  const data = new FormData();
  data.append("conversation", String(conversation));
  const response = await fetch(`/console/saved-replies/${reply.id}/use`, {
    method: "POST", body: data, credentials: "same-origin", headers: { "X-CSRFToken": csrfToken() } });
  if (!response.ok) return null;
  const used = await response.json();
  // The use gives the files' ids in the order the search listed their names.
  const files = used.attachments.map((id, i) => ({ id, name: reply.attachments?.[i]?.name || `File ${i + 1}`,
                                                  size: reply.attachments?.[i]?.size ?? null }));
  return { text: used.text, files };
}

export function replyOption(reply) {
  const box = document.createDocumentFragment();
  const title = Object.assign(document.createElement("strong"), { textContent: reply.title });
  const code = Object.assign(document.createElement("span"), { className: "shortcut", textContent: ` /${reply.shortcut}` });
  const scope = Object.assign(document.createElement("span"), { className: "scope",
    textContent: reply.scope === "personal" ? " · personal" : "" });
  const preview = Object.assign(document.createElement("span"), { className: "preview", textContent: reply.preview });
  box.append(title, code, scope, preview);
  return box;
}

// The toolbar's opener (`/`, a keyboard shortcut too, issue 18 §3): types the `/` that opens
// the search, as if the person had.
document.getElementById("saved-reply-open").addEventListener("click", () => {
  if (field.disabled) return;
  field.focus();
  insertAtCaret("/");
});
