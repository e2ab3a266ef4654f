// The files the next reply or note carries (docs/protocol.md §5 `attachments`): uploaded by
// the file button, pasted or dropped onto the composer (POST /attachments/, §6), or given by
// a saved reply; shown as chips, each removable, and kept in the draft.
import { csrfToken, field } from "./editing.js";
import { showError } from "./server.js";

const chips = document.getElementById("pending-files");
const composer = document.getElementById("composer");
const listeners = [];
let files = []; // [{id, name, size}]
let uploading = 0;

export function pendingFiles() { return files; }
export function isUploading() { return uploading > 0; }
export function onFilesChanged(listener) { listeners.push(listener); }

// Replaces the list (a draft shown, a message sent); `quiet`: not a change to save.
export function setFiles(list, quiet = false) {
  files = list.slice(0, 10);
  render();
  if (!quiet) for (const listener of listeners) listener();
}

export function attachFiles(list) {
  const known = new Set(files.map((f) => f.id));
  setFiles([...files, ...list.filter((f) => !known.has(f.id))]);
}

function size(bytes) {
  if (bytes == null) return "";
  return bytes < 1024 * 1024 ? ` (${Math.max(1, Math.round(bytes / 1024))} kB)` : ` (${(bytes / 1048576).toFixed(1)} MB)`;
}

function render() {
  chips.hidden = !files.length && !uploading;
  chips.replaceChildren(...files.map((f) => {
    const li = document.createElement("li");
    li.className = "chip";
    li.append(`📎 ${f.name}${size(f.size)}`);
    const remove = document.createElement("button");
    remove.type = "button";
    remove.textContent = "×";
    remove.setAttribute("aria-label", `Remove ${f.name}`);
    remove.addEventListener("click", () => { setFiles(files.filter((g) => g.id !== f.id)); field.focus(); });
    li.append(remove);
    return li;
  }), ...(uploading ? [Object.assign(document.createElement("li"), { className: "chip muted", textContent: "Uploading…" })] : []));
}

export async function upload(file) {
  const data = new FormData();
  data.append("file", file, file.name || "pasted-image.png");
  uploading += 1;
  render();
  try {
    const response = await fetch("/attachments/", { method: "POST", body: data, headers: { "X-CSRFToken": csrfToken() } });
    const reply = await response.json();
    if (!response.ok) { showError(reply.error.message); return; }
    attachFiles([{ id: reply.id, name: reply.name, size: reply.size }]);
  } catch {
    showError("The file could not be uploaded. Try again.");
  } finally {
    uploading -= 1;
    render();
  }
}

document.getElementById("file").addEventListener("change", (event) => {
  for (const file of event.target.files) upload(file);
  event.target.value = "";
});
// An image pasted (a screenshot) is attached; pasted text stays text.
field.addEventListener("paste", (event) => {
  const pasted = [...(event.clipboardData?.files || [])];
  if (!pasted.length || field.disabled) return;
  event.preventDefault();
  for (const file of pasted) upload(file);
});
const carriesFiles = (event) => [...(event.dataTransfer?.types || [])].includes("Files");
composer.addEventListener("dragover", (event) => {
  if (!carriesFiles(event) || field.disabled) return;
  event.preventDefault();
  composer.classList.add("dropping");
});
composer.addEventListener("dragleave", (event) => {
  if (!composer.contains(event.relatedTarget)) composer.classList.remove("dropping");
});
composer.addEventListener("drop", (event) => {
  composer.classList.remove("dropping");
  if (!carriesFiles(event) || field.disabled) return;
  event.preventDefault();
  for (const file of event.dataTransfer.files) upload(file);
});
