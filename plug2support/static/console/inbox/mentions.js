// @mentions in a private note (M3, docs/protocol.md §5 `note`): the teammates are the
// company's members the page was given (`page.members`); the note's `mentions` are the ids
// of those whose `@Name` is in its text, however it got there — completed, typed or kept in
// a draft — so a mention deleted from the text is no longer sent.
import { me, page } from "./store.js";

export function teammates(query) {
  const q = query.toLowerCase();
  return page.members.filter((m) => m.id !== me.id && m.name.toLowerCase().split(/\s+/)
    .some((word, i, words) => word.startsWith(q) || words.slice(i).join(" ").startsWith(q)));
}

// The ids named in `text`: at each `@`, the longest member name that follows it and ends
// there (not inside a longer word), so "@Bob Smith" is Bob Smith, not Bob.
export function mentionIds(text) {
  const members = [...page.members].sort((a, b) => b.name.length - a.name.length);
  const ids = new Set();
  for (const match of text.matchAll(/(?:^|[\s(])@/g)) {
    const after = text.slice(match.index + match[0].length);
    const who = members.find((m) => after.toLowerCase().startsWith(m.name.toLowerCase())
      && !/[\p{L}\p{N}_]/u.test(after.charAt(m.name.length)));
    if (who) ids.add(who.id);
  }
  return [...ids];
}
