// The composer's text field and the few ways its modules edit it. Every edit goes through
// `replaceRange`, which fires `input` as typing would: the draft is saved, the typing
// indicator sent and the suggestions looked at again, whoever made the change.
export const field = document.getElementById("reply");

export function noteMode() {
  return document.querySelector("input[name=mode]:checked").value === "note";
}

// Replaces [start, end) with `text` and leaves the selection on [selStart, selEnd) of the
// inserted text (by default the caret after it).
export function replaceRange(text, start, end, selStart = text.length, selEnd = selStart) {
  field.focus();
  field.setRangeText(text, start, end, "end");
  field.setSelectionRange(start + selStart, start + selEnd);
  field.dispatchEvent(new Event("input", { bubbles: true }));
}

// Inserts at the caret (replacing the selection), with a space before when it would stick
// to a word.
export function insertAtCaret(text) {
  const start = field.selectionStart ?? field.value.length;
  const before = field.value.slice(0, start);
  const spaced = before && !/\s$/.test(before) ? ` ${text}` : text;
  replaceRange(spaced, start, field.selectionEnd ?? start);
}

export function csrfToken() {
  const match = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}
