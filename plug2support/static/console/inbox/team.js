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

// --- alerts (C1, issue 18 point 8) -------------------------------------------------------
// Each person's choice per kind of event (Settings → Alerts; the page carries them):
// { kind: { sound, desktop } }. Unknown kinds (an older page) alert as before.
const alerts = page.alerts || {};
function wanted(kind, channel) {
  const choice = alerts[kind];
  return !choice || choice[channel] !== false;
}

// A short two-tone chime made with Web Audio: no file to download. The context is made at
// once: where the browser lets a page play sound without a click (its autoplay policy, or
// a site the person has engaged with), it simply runs; where it does not, it starts
// suspended, and the console says so ("click to turn sound on") until a click or key
// resumes it.
let audio = null;
try { audio = new AudioContext(); } catch { audio = null; }
const soundOn = $("sound-on");

function showSoundState() {
  const blocked = Boolean(audio) && audio.state !== "running";
  if (soundOn) { soundOn.hidden = !blocked; $("sound-why").hidden = !blocked; }
  document.body.dataset.sound = audio ? audio.state : "none";
}

async function resumeSound() {
  if (!audio || audio.state === "running") return;
  try { await audio.resume(); } catch { /* still blocked */ }
  showSoundState();
}
if (audio) {
  audio.addEventListener("statechange", showSoundState);
  audio.resume().catch(() => {}).finally(showSoundState); // allowed without a click? then it runs
  for (const kind of ["pointerdown", "keydown"]) document.addEventListener(kind, resumeSound, { capture: true });
}
if (soundOn) soundOn.addEventListener("click", resumeSound);
showSoundState();

export function chime() {
  if (!audio) return;
  if (audio.state !== "running") { showSoundState(); return; } // said on screen instead
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
  document.body.dataset.chimes = String(Number(document.body.dataset.chimes || 0) + 1);
}

// One alert of a kind: the sound and the desktop notice the person chose for it. The
// desktop notice only when the page is not in view (in view, the page itself shows it).
export function alertFor(kind, title, body, url, onclick) {
  if (wanted(kind, "sound")) chime();
  if (wanted(kind, "desktop") && "Notification" in window && Notification.permission === "granted"
      && (document.hidden || !document.hasFocus())) {
    const n = new Notification(title, { body: body || "", tag: `p2s-${kind}-${url || title}` });
    n.onclick = () => { window.focus(); if (onclick) onclick(); else if (url) location.assign(url); };
  }
}

export function announce(c) {
  alertFor("new_conversation", `New conversation: ${c.visitor.name}`, c.preview, `/inbox/${c.id}/`, () => open(c.id, true));
}

// A live summary against the one shown before: my customer wrote (and I am not looking).
export function summaryAlert(before, c) {
  if (!before || !c.served_by || c.served_by.id !== me.id) return;
  if ((c.last_customer_seq || 0) > (before.last_customer_seq || 0)
      && !(c.id === store.selectedId && document.visibilityState === "visible")) {
    alertFor("customer_reply", `${c.visitor.name} replied`, c.preview, `/inbox/${c.id}/`, () => open(c.id, true));
  }
}

// The notifications that are alerts of a kind: a mention, a conversation given to me (by a
// routing rule or a teammate's reassignment).
const NOTIFICATION_ALERTS = { mention: "mention", routed: "assigned", reassigned: "assigned" };
export function notificationAlert(notification) {
  const kind = NOTIFICATION_ALERTS[notification.kind];
  if (kind) alertFor(kind, notification.title, notification.body, notification.url);
}

// The desktop-notification permission: asked once, on the person's click (browsers refuse
// a prompt without one), and remembered: the browser keeps the answer, and this console
// keeps that it asked, so a dismissed prompt is not offered again on every page.
const ASKED = "p2s-desktop-notifications-asked";
if ("Notification" in window && Notification.permission === "default" && !localStorage.getItem(ASKED)) {
  $("notify").hidden = false;
  $("notify").addEventListener("click", async () => {
    localStorage.setItem(ASKED, "1");
    await Notification.requestPermission();
    $("notify").hidden = true;
  });
}
