// The formatting toolbar (M2): it writes Markdown around the selection — the server renders
// it (docs/protocol.md, `html`). Ctrl/Cmd+B and Ctrl/Cmd+I as in any editor.
import { field, replaceRange } from "./editing.js";

function selection() {
  const start = field.selectionStart;
  const end = field.selectionEnd;
  return { start, end, text: field.value.slice(start, end) };
}

// Wraps the selection in `mark` (or unwraps it when it is wrapped already); with nothing
// selected, the caret lands between the marks.
function wrap(mark) {
  const { start, end, text } = selection();
  const value = field.value;
  if (value.slice(start - mark.length, start) === mark && value.slice(end, end + mark.length) === mark) {
    replaceRange(text, start - mark.length, end + mark.length, 0, text.length);
  } else replaceRange(`${mark}${text}${mark}`, start, end, mark.length, mark.length + text.length);
}

function link() {
  const { start, end, text } = selection();
  if (/^https?:\/\/\S+$/.test(text)) replaceRange(`[](${text})`, start, end, 1);
  else replaceRange(`[${text}](https://)`, start, end, text.length + 3, text.length + 11);
}

// Each line the selection touches gets the prefix (numbered lists count up).
function lines(prefix) {
  const { start, end } = selection();
  const from = field.value.lastIndexOf("\n", start - 1) + 1;
  const to = field.value.indexOf("\n", end) < 0 ? field.value.length : field.value.indexOf("\n", end);
  const text = field.value.slice(from, to).split("\n").map((line, i) => prefix(i) + line).join("\n");
  replaceRange(text, from, to);
}

function codeBlock() {
  const { start, end, text } = selection();
  const before = start && field.value[start - 1] !== "\n" ? "\n" : "";
  const block = `${before}\`\`\`\n${text}\n\`\`\`\n`;
  const inside = before.length + 4;
  replaceRange(block, start, end, inside, inside + text.length);
}

const actions = {
  bold: () => wrap("**"),
  italic: () => wrap("_"),
  link,
  bullets: () => lines(() => "- "),
  numbers: () => lines((i) => `${i + 1}. `),
  code: () => wrap("`"),
  "code-block": codeBlock,
};

for (const button of document.querySelectorAll("[data-format]")) {
  button.addEventListener("mousedown", (event) => event.preventDefault()); // the selection stays
  button.addEventListener("click", () => { if (!field.disabled) actions[button.dataset.format](); });
}

export function handleKey(event) {
  if (!(event.ctrlKey || event.metaKey) || event.altKey || event.shiftKey) return false;
  const action = { b: "bold", i: "italic" }[event.key.toLowerCase()];
  if (!action) return false;
  event.preventDefault();
  actions[action]();
  return true;
}
