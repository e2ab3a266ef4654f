// The conversation in the pane: who and where, its stage, priority, owner and transfer
// buttons, its tags, tickets and Hold, and the thread with attachments and receipts
// (docs/protocol.md §5). The composer below it is composer.js.
import { Thread, linkify, stickToBottom, timeOf, typingDisplay } from "../../widget/live.js";
import { act, answer, showError, socket } from "./server.js";
import { changed, me, on, page, selected, servedLabel, stageLabel, store } from "./store.js";

const $ = (id) => document.getElementById(id);
export const scroller = stickToBottom($("thread"));
export const showTyping = typingDisplay($("typing"));

// Opens a conversation in the pane (`push`: as a new page of the history).
export function open(id, push) {
  if (store.selectedId && store.selectedId !== id) socket.send({ type: "unsubscribe", conversation: store.selectedId });
  if (store.selectedId !== id) { store.thread = new Thread(); store.metrics = null; store.work = { tickets: [], dependencies: [] }; }
  const other = store.selectedId !== id;
  store.selectedId = id;
  showError("");
  if (push) history.pushState({ id }, "", `/inbox/${id}/`);
  socket.send({ type: "subscribe", conversation: id, after: store.thread.lastSeq });
  changed("list", "pane");
  if (other) scroller.pin(); // another conversation opens at its newest message
  // panes.js shows the conversation's pane on a phone (a person's tap moves the focus there).
  document.dispatchEvent(new CustomEvent("conversation:opened", { detail: { id, byPerson: push } }));
}

function duration(seconds) {
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  if (seconds < 86400) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86400).toFixed(1)} days`;
}

function renderMetrics() {
  const { metrics } = store;
  const parts = [];
  if (metrics && metrics.first_response_seconds != null) parts.push(`First response in ${duration(metrics.first_response_seconds)}`);
  else parts.push("Waiting for a first response");
  if (metrics && metrics.resolution_seconds != null) parts.push(`resolved in ${duration(metrics.resolution_seconds)}`);
  $("pane-metrics").textContent = parts.join(" · ");
}

let holdFormOf = null;
function renderWork(c) {
  const { work } = store;
  const items = [];
  for (const d of work.dependencies) {
    const li = document.createElement("li");
    li.className = d.done ? "done" : "";
    if (d.ticket) li.textContent = `Waits for #${d.ticket.id} ${d.ticket.title}`;
    else {
      li.textContent = `Waits for ${d.reviewer.name}'s review`;
      if (!d.done && d.reviewer.id === me.id) {
        const done = document.createElement("button");
        done.type = "button";
        done.className = "linklike";
        done.textContent = " — mark my review done";
        done.addEventListener("click", () => act({ type: "complete_review", dependency: d.id }).then(applyWork));
        li.append(done);
      }
    }
    items.push(li);
  }
  for (const t of work.tickets) {
    if (work.dependencies.some((d) => d.ticket && d.ticket.id === t.id)) continue;
    const li = document.createElement("li");
    li.textContent = `#${t.id} ${t.title} · ${t.stage.replace("_", " ")}`;
    items.push(li);
  }
  $("work-list").replaceChildren(...items);
  const open = work.tickets.filter((t) => t.stage !== "done" && t.stage !== "wont_do");
  // The pane is drawn again on every live change: what the person has ticked and chosen in
  // the hold form stays (for this conversation), or a frame between the tick and the
  // submit would undo it.
  const same = holdFormOf === c.id;
  holdFormOf = c.id;
  const ticked = same ? new Set([...$("hold-tickets").querySelectorAll("input:checked")].map((b) => b.value)) : new Set();
  const reviewer = same ? $("hold-reviewer").value : "";
  $("hold-tickets").replaceChildren(...open.map((t) => {
    const label = document.createElement("label");
    const box = document.createElement("input");
    box.type = "checkbox";
    box.value = t.id;
    box.checked = ticked.has(String(t.id));
    label.append(box, ` #${t.id}`);
    return label;
  }));
  $("hold-reviewer").replaceChildren(new Option("and/or a person's review…", ""),
    ...page.members.filter((m) => m.id !== me.id).map((m) => new Option(m.name, m.id)));
  $("hold-reviewer").value = reviewer;
  $("hold-form").hidden = !["waiting_on_user", "needs_response"].includes(c.stage);
}

// A reply that carries the conversation's tickets and dependencies.
function applyWork(reply) {
  if (reply && reply.tickets) {
    store.work = { tickets: reply.tickets, dependencies: reply.dependencies };
    changed("pane");
  }
}

function renderTags(c) {
  $("chips").replaceChildren(...(c.tags || []).map((t) => {
    const li = document.createElement("li");
    li.className = "chip";
    li.append(t.value ? `${t.name}: ${t.value}` : t.name);
    const remove = document.createElement("button");
    remove.type = "button";
    remove.textContent = "×";
    remove.setAttribute("aria-label", `Remove the tag ${t.name}`);
    remove.addEventListener("click", () => act({ type: "untag", conversation: c.id, tag: t.id }));
    li.append(remove);
    return li;
  }));
  const applied = new Set((c.tags || []).map((t) => t.id));
  const pick = $("tag-pick");
  const chosen = pick.value;
  pick.replaceChildren(new Option("Add a tag…", ""),
    ...[...store.tags.values()].filter((t) => !applied.has(t.id)).map((t) => new Option(t.name, t.id)),
    new Option("New tag…", "new"));
  pick.value = [...pick.options].some((o) => o.value === chosen) ? chosen : "";
  const tag = store.tags.get(Number(pick.value));
  $("tag-value").hidden = !(tag && tag.takes_value);
}

// The transfer request I made for this conversation and that is still pending.
function myPendingRequest(id) {
  return [...store.transfers.values()].find(
    (t) => t.conversation === id && t.requested_by.id === me.id && t.status === "pending");
}

function renderHead(c) {
  $("pane-title").textContent = c.visitor.name;
  $("pane-sub").textContent = c.channel === "email"
    ? `E-mail · ${c.subject || "(no subject)"} · ${c.widget.name} · started ${timeOf(c.created_at)}`
    : `${c.widget.name} · started ${timeOf(c.created_at)}`;
  $("served").textContent = servedLabel(c);
  const stageSelect = $("stage");
  stageSelect.replaceChildren(new Option(stageLabel(c.stage), c.stage, true, true),
    ...(page.moves[c.stage] || []).map((to) => new Option(`Move to ${stageLabel(to)}`, to)));
  stageSelect.dataset.current = c.stage;
  renderMetrics();
  renderTags(c);
  renderWork(c);
  const prio = $("priority");
  prio.replaceChildren(...page.priorities.map((p) => new Option(`${p.label} priority`, p.value, false, p.value === c.priority)));
  $("served").className = `served ${c.served_by ? "" : "waiting"}`;
  $("claim").hidden = Boolean(c.served_by);
  const mine = !c.served_by || c.served_by.id === me.id;
  const myRequest = myPendingRequest(c.id);
  $("ask-transfer").hidden = mine || Boolean(myRequest);
  $("withdraw-transfer").hidden = !myRequest;
  $("reassign").hidden = !page.is_admin;
  $("reassign-to").replaceChildren(...page.members.filter((m) => !c.served_by || m.id !== c.served_by.id)
    .map((m) => new Option(m.name, m.id)));
}

const images = new Map();
function files(attachments) {
  const box = document.createElement("div");
  box.className = "files";
  for (const a of attachments) {
    const link = document.createElement("a");
    link.href = a.url;
    if (a.is_image) {
      link.target = "_blank";
      link.rel = "noopener";
      // One element per image, moved into each render: a new one would start empty and
      // make the thread jump while it loads again.
      if (!images.has(a.id)) {
        const img = document.createElement("img");
        img.src = a.url;
        img.alt = a.name;
        img.loading = "lazy";
        images.set(a.id, img);
      }
      link.append(images.get(a.id));
    } else {
      link.download = a.name;
      link.textContent = `Download ${a.name}`;
    }
    box.append(link);
  }
  return box;
}

// A customer's message is named by who wrote it: by e-mail, the mail's own From (a colleague
// in Cc may answer in the thread), else the visitor.
function senderName(e, c) {
  const from = e.email && e.email.direction === "in" && e.email.from;
  return from ? (from.name || from.address) : c.visitor.name;
}

function warning(text, className) {
  const warn = document.createElement("strong");
  warn.className = className;
  warn.textContent = text;
  return warn;
}

// An e-mail's envelope above its text (F5): from, to, cc; a warning when its sender's domain
// did not vouch for it (F3), when it was malformed, or when a reply could not be sent.
function mailHead(mail) {
  const head = document.createElement("span");
  head.className = "mail-head";
  const parts = [];
  if (mail.direction === "in" && mail.from) parts.push(`From ${mail.from.name ? `${mail.from.name} <${mail.from.address}>` : mail.from.address}`);
  if (mail.to && mail.to.length) parts.push(`${mail.direction === "out" ? "E-mailed to" : "To"} ${mail.to.join(", ")}`);
  if (mail.cc && mail.cc.length) parts.push(`Cc ${mail.cc.join(", ")}`);
  head.textContent = parts.join(" · ");
  const warnings = [];
  if (mail.unverified) warnings.push("Unverified sender: the sender's domain did not confirm this mail (SPF/DKIM/DMARC).");
  if (mail.not_sent) warnings.push(mail.not_sent);
  if (mail.warnings && mail.warnings.length) warnings.push("This mail was malformed: it is shown as the text it holds.");
  for (const text of warnings) head.append(document.createElement("br"), warning(text, "mail-unverified"));
  return head;
}

// The folded quoted history, the mail as its sender formatted it (sanitised HTML, shown in a
// sandboxed frame: no script, no form, no navigation of ours), and the files not kept.
function mailExtras(mail) {
  const extras = [];
  if (mail.quoted) {
    const details = document.createElement("details");
    details.className = "mail-quoted";
    const summary = document.createElement("summary");
    summary.textContent = "Show quoted text";
    const pre = document.createElement("pre");
    pre.textContent = mail.quoted;
    details.append(summary, pre);
    extras.push(details);
  }
  if (mail.html) {
    const details = document.createElement("details");
    details.className = "mail-html";
    const summary = document.createElement("summary");
    summary.textContent = "Show as formatted";
    details.append(summary);
    details.addEventListener("toggle", () => {
      if (!details.open || details.querySelector("iframe")) return;
      const frame = document.createElement("iframe");
      frame.setAttribute("sandbox", "");
      frame.setAttribute("referrerpolicy", "no-referrer");
      frame.title = "The e-mail as formatted by its sender";
      frame.srcdoc = mail.html;
      details.append(frame);
    });
    extras.push(details);
  }
  if (mail.skipped_files && mail.skipped_files.length) {
    const skipped = document.createElement("span");
    skipped.className = "mail-skipped";
    skipped.textContent = `Not kept: ${mail.skipped_files.join("; ")}`;
    extras.push(skipped);
  }
  return extras;
}

// The team's Markdown arrives rendered (`html`: sanitised on the server by nh3, raw HTML
// off, docs/protocol.md), so it is the one HTML put in the page; anything else is text.
function messageBody(e) {
  if (typeof e.html === "string" && e.html) {
    const body = document.createElement("div");
    body.className = "md";
    body.innerHTML = e.html;
    return body;
  }
  const body = document.createElement("p");
  body.append(linkify(e.body)); // text nodes and safe links, never HTML
  return body;
}

function renderThread(c) {
  const events = store.thread.ordered();
  const messages = events.filter((e) => e.kind === "message");
  const lastMessage = messages[messages.length - 1];
  const items = events.map((e) => {
    const li = document.createElement("li");
    li.id = `seq-${e.seq}`; // a link straight to it: /inbox/<id>/#seq-<n> (a mention's)
    if (e.kind === "message" || e.kind === "note") {
      li.className = e.kind === "note" ? "msg note" : `msg ${e.sender === "visitor" ? "theirs" : "mine"}`;
      const who = document.createElement("span");
      who.className = "who";
      who.textContent = e.sender === "visitor" ? senderName(e, c) : (e.author ? e.author.name : "Operator");
      const body = messageBody(e);
      const meta = document.createElement("span");
      meta.className = "meta";
      meta.textContent = timeOf(e.created_at);
      li.append(who);
      if (e.email) li.append(mailHead(e.email));
      li.append(body);
      if (e.email) li.append(...mailExtras(e.email));
      if (e.attachments && e.attachments.length) li.append(files(e.attachments));
      li.append(meta);
    } else {
      // K2: the question a resolution asked the visitor, and their rating (its body says
      // the score and the comment; satisfaction/texts.py).
      li.className = e.kind === "rating" ? "system rating" : "system";
      const text = e.kind === "rating_asked" ? `Rating asked: ${e.body}` : e.body;
      li.textContent = `${text} · ${timeOf(e.created_at)}`;
    }
    return li;
  });
  // Delivered / read by the visitor, under the team's last reply.
  if (lastMessage && lastMessage.sender === "operator" && c.receipts) {
    const receipt = document.createElement("li");
    receipt.className = "receipt";
    receipt.textContent = lastMessage.email && lastMessage.email.not_sent ? "Not e-mailed"
      : c.receipts.visitor_read >= lastMessage.seq ? "Read"
        : c.receipts.visitor_delivered >= lastMessage.seq ? "Delivered" : "Sent";
    items.splice(events.indexOf(lastMessage) + 1, 0, receipt);
  }
  $("thread").replaceChildren(...items);
  scroller.follow();
}

function renderPane() {
  const c = selected();
  $("pane-empty").hidden = Boolean(c);
  $("pane-conversation").hidden = !c;
  if (!c) return;
  renderHead(c);
  changed("composer");
  renderThread(c);
  sendReceipt();
}
on("pane", renderPane);

// The team has received what this console shows, and read it when the page is visible.
export function sendReceipt() {
  if (!store.selectedId || !socket.isOpen) return;
  const c = selected();
  const last = store.thread.lastSeq;
  if (!c || !last) return;
  const read = document.visibilityState === "visible" ? last : 0;
  const r = c.receipts || { team_delivered: 0, team_read: 0 };
  if (last > r.team_delivered || read > r.team_read) {
    socket.send({ type: "receipt", conversation: store.selectedId, delivered: last, read });
    c.receipts = { ...r, team_delivered: Math.max(last, r.team_delivered), team_read: Math.max(read, r.team_read) };
  }
}
document.addEventListener("visibilitychange", sendReceipt);

// --- the pane's controls ------------------------------------------------------------------
$("claim").addEventListener("click", () => act({ type: "claim", conversation: store.selectedId }));
$("stage").addEventListener("change", async (event) => {
  const expected = event.target.dataset.current;
  const reply = await act({ type: "move", conversation: store.selectedId, to: event.target.value, expected });
  if (reply) store.metrics = reply.metrics;
  changed("pane");
});
$("ask-transfer").addEventListener("click", () => answer({ type: "transfer_request", conversation: store.selectedId }));
$("withdraw-transfer").addEventListener("click", () => {
  const mine = myPendingRequest(store.selectedId);
  if (mine) answer({ type: "transfer_withdraw", request: mine.id });
});
$("reassign").addEventListener("submit", (event) => {
  event.preventDefault();
  act({ type: "reassign", conversation: store.selectedId, to: Number($("reassign-to").value) });
});
$("ticket-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const reply = await act({ type: "open_ticket", conversation: store.selectedId, title: $("ticket-title").value,
                            kind: $("ticket-kind").value, needs_code_change: $("ticket-code").checked });
  if (reply) { $("ticket-title").value = ""; $("ticket-code").checked = false; applyWork(reply); }
});
$("hold-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const tickets = [...$("hold-tickets").querySelectorAll("input:checked")].map((b) => Number(b.value));
  const reviewer = $("hold-reviewer").value;
  const c = selected();
  const reply = await act({ type: "hold", conversation: store.selectedId, tickets,
                           reviewers: reviewer ? [Number(reviewer)] : [], expected: c && c.stage });
  if (reply) holdFormOf = null; // done: the form starts empty next time
  applyWork(reply);
});
$("priority").addEventListener("change", (event) => act({ type: "priority", conversation: store.selectedId, priority: Number(event.target.value) }));
$("tag-pick").addEventListener("change", () => {
  const tag = store.tags.get(Number($("tag-pick").value));
  $("tag-value").hidden = !(tag && tag.takes_value);
});
$("add-tag").addEventListener("submit", async (event) => {
  event.preventDefault();
  let choice = $("tag-pick").value;
  if (!choice) return;
  if (choice === "new") {
    const name = prompt("Name of the new tag");
    if (!name) return;
    const created = await act({ type: "create_tag", name });
    if (!created) return;
    store.tags.set(created.tag.id, created.tag);
    choice = String(created.tag.id);
  }
  const reply = await act({ type: "tag", conversation: store.selectedId, tag: Number(choice), value: $("tag-value").value });
  if (reply) { $("tag-value").value = ""; $("tag-pick").value = ""; }
});
