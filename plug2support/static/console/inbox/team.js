// The team around the inbox: who is online and whether the widgets are live, my status,
// transfer requests asked of me, notifications (the unread count, toasts), and the chime
// and desktop notice for a new conversation (docs/protocol.md, "Welcome, inbox and presence").
import { open } from "./conversation.js";
import { act, answer } from "./server.js";
import { me, on, page, store } from "./store.js";

const $ = (id) => document.getElementById(id);

// A widget is open by its business hours at `now`: its state at page load, flipped at
// each change the server listed for the week.
function widgetOpen(w, now) {
  let isOpen = w.open;
  for (const change of w.changes || []) if (Date.parse(change) <= now) isOpen = !isOpen;
  return isOpen;
}

let presence = null;
let hoursTimer = null;
function availabilityText(frame) {
  const now = Date.now();
  const closed = page.widgets.filter((w) => !widgetOpen(w, now));
  clearTimeout(hoursTimer);
  const next = Math.min(...page.widgets.flatMap((w) => (w.changes || []).map(Date.parse)).filter((t) => t > now));
  if (Number.isFinite(next)) hoursTimer = setTimeout(() => renderPresence(presence), Math.min(next - now + 500, 2 ** 31 - 1));
  if (frame.blocked === "traffic") return "Chat is paused: the plan's traffic limit is reached (see Billing)";
  if (frame.blocked) return "Chat is paused: the paid period has ended (see Billing)";
  if (!frame.operators_online) return "Widgets show the offline form";
  if (page.widgets.length && closed.length === page.widgets.length) {
    return "Closed (business hours): widgets show the offline form";
  }
  if (closed.length) return `Widgets are live, except ${closed.map((w) => w.name).join(", ")} (closed: business hours)`;
  return "Widgets are live";
}

export function renderPresence(frame) {
  presence = frame;
  $("team-online").textContent = availabilityText(frame);
  $("team-presence").replaceChildren(...frame.members.map((m) => {
    const li = document.createElement("li");
    li.className = `status-${m.status}`;
    li.textContent = m.user.id === me.id ? `${m.user.name} (you)` : m.user.name;
    li.title = m.status;
    return li;
  }));
}

export function setStatus(status) {
  $("my-status").value = status;
}
$("my-status").value = page.status;
$("my-status").addEventListener("change", (event) => act({ type: "status", status: event.target.value }));

export function setUnread(count) {
  const badge = $("unread");
  if (!badge) return;
  badge.textContent = String(count);
  badge.hidden = !count;
}

export function toast(notification) {
  const box = document.createElement("div");
  box.className = "toast";
  box.setAttribute("role", "status");
  const link = document.createElement("a");
  link.href = notification.url || "/notifications/";
  link.textContent = notification.title;
  box.append(link);
  let stack = document.getElementById("toasts");
  if (!stack) {
    stack = document.createElement("div");
    stack.id = "toasts";
    document.body.append(stack);
  }
  stack.append(box);
  setTimeout(() => box.remove(), 8000);
}

function renderTransfers() {
  const asked = [...store.transfers.values()].filter((t) => t.status === "pending" && t.asked_of.id === me.id);
  $("transfers").replaceChildren(...asked.map((t) => {
    const box = document.createElement("div");
    box.className = "transfer";
    box.setAttribute("role", "alert");
    const text = document.createElement("p");
    const c = store.conversations.get(t.conversation);
    text.textContent = `${t.requested_by.name} asks to take over ${c ? c.visitor.name : "a conversation"}.`;
    const actions = document.createElement("div");
    actions.className = "actions";
    for (const [label, type] of [["Accept", "transfer_accept"], ["Decline", "transfer_decline"]]) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = `button small${type === "transfer_decline" ? " ghost" : ""}`;
      button.textContent = label;
      button.addEventListener("click", () => answer({ type, request: t.id }));
      actions.append(button);
    }
    box.append(text, actions);
    return box;
  }));
}
on("transfers", renderTransfers);

// A short two-tone chime made with Web Audio: no file to download.
let audio = null;
export function chime() {
  try {
    audio = audio || new AudioContext();
    const now = audio.currentTime;
    for (const [i, freq] of [[0, 880], [1, 1320]]) {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.0001, now + i * 0.15);
      gain.gain.exponentialRampToValueAtTime(0.2, now + i * 0.15 + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, now + i * 0.15 + 0.3);
      osc.connect(gain).connect(audio.destination);
      osc.start(now + i * 0.15);
      osc.stop(now + i * 0.15 + 0.32);
    }
  } catch { /* audio blocked until the user interacts with the page */ }
}

export function announce(c) {
  chime();
  if ("Notification" in window && Notification.permission === "granted" && document.hidden) {
    const n = new Notification(`New conversation: ${c.visitor.name}`, { body: c.preview, tag: `p2s-${c.id}` });
    n.onclick = () => { window.focus(); open(c.id, true); };
  }
}

if ("Notification" in window && Notification.permission === "default") {
  $("notify").hidden = false;
  $("notify").addEventListener("click", async () => {
    await Notification.requestPermission();
    $("notify").hidden = true;
  });
}
