// The chat inside the widget frame (served from our origin; see loader.js).
import { attachmentFiles } from "./files.js";
import { ratingThread } from "./rating.js";
import { LiveSocket, Thread, linkify, newId, stickToBottom, timeOf, typingDisplay, typingSender } from "./live.js";

const config = JSON.parse(document.getElementById("p2s-config").textContent);
// From the loader, in the fragment: this browser's site id, and an operator's invite.
const fragment = new URLSearchParams(location.hash.slice(1));
const VID = /^[A-Za-z0-9_-]{8,64}$/;
let vid = fragment.get("vid") || null; // a reset brings a new one (N7)
if (fragment.get("dir") === "rtl") document.documentElement.dir = "rtl";
let invite = fragment.get("invite") || null;
// N8: the page this frame was opened for, as the loader says (its origin, in the fragment),
// when the widget allows it. The frame writes to that origin only (operator text, never to
// "*") and listens only to its parent window at that origin. The settings page's preview
// is on our own origin.
function allowedPageOrigin(origin) {
  let parsed = null;
  try { parsed = new URL(origin); } catch { return null; }
  // Exactly an origin ("*", "/", "null" or a URL with a path never pass).
  if (parsed.origin !== origin || !/^https?:$/.test(parsed.protocol)) return null;
  return !config.origins.length || config.origins.includes(origin) ? origin : null;
}
const pageOrigin = config.preview ? location.origin : allowedPageOrigin(fragment.get("origin"));
function toPage(message) {
  if (pageOrigin && parent !== window) parent.postMessage(message, pageOrigin);
}
function fromPage(event) {
  return pageOrigin !== null && event.source === parent && event.origin === pageOrigin;
}
const storeKey = `p2s:${config.widget}`;
const store = {
  get(name) { try { return localStorage.getItem(`${storeKey}:${name}`); } catch { return null; } },
  set(name, value) { try { localStorage.setItem(`${storeKey}:${name}`, value); } catch { /* private mode */ } },
  drop(name) { try { localStorage.removeItem(`${storeKey}:${name}`); } catch { /* private mode */ } },
};

const threadEl = document.getElementById("thread");
const scroller = stickToBottom(threadEl);
const statusEl = document.getElementById("status");
const errorEl = document.getElementById("error");
const hintEl = document.getElementById("hint");
const form = document.getElementById("composer");
const input = document.getElementById("body");
const offlineForm = document.getElementById("offline");
const offlineEmail = document.getElementById("offline-email");
const offlineBody = document.getElementById("offline-body");
const offlineDone = document.getElementById("offline-done");
let mode = "live";
// B6: who the site's logged-in user is (id + HMAC), from the loader; every hello carries it.
let pendingIdentity = null;
let helloIdentity = null; // what the last hello carried
// N7: the site user this visitor is (the server proved it), or null.
let boundUser = null;
// What the page passed to identify(), made fit for the hello whatever it is: the four
// fields only, each string well-formed (a lone UTF-16 surrogate, as from slicing "😀" in
// half, becomes U+FFFD), without NUL and at most 1000 characters (far above every limit, so
// the server still says what is wrong); an integer id (a JS number or BigInt) as its
// decimal digits. The server can refuse such an identity (the chat goes on unidentified,
// `identity_error`), but it always reads the hello: nothing the site passes stops the chat.
const IDENTITY_FIELDS = ["user_id", "user_hash", "email", "name"];
const LONE_SURROGATE = /[\ud800-\udbff][\udc00-\udfff]|[\ud800-\udfff]/g;
function wellFormed(text) {
  const cut = text.slice(0, 1000);
  const whole = cut.toWellFormed ? cut.toWellFormed()
    : cut.replace(LONE_SURROGATE, (c) => (c.length === 2 ? c : "\ufffd"));
  return whole.replaceAll("\u0000", "");
}
function identityField(value) {
  if (typeof value === "string") return wellFormed(value);
  if (typeof value === "bigint" || Number.isSafeInteger(value)) return String(value);
  return typeof value === "number" || typeof value === "boolean" ? value : null;
}
function cleanIdentity(who) {
  if (who === null || who === undefined) return null;
  if (typeof who !== "object") return {}; // the server says what is missing
  const clean = {};
  for (const name of IDENTITY_FIELDS) {
    const value = identityField(who[name]);
    if (value !== null) clean[name] = value;
  }
  // M9: custom attributes pass as they are (JSON already, from the loader); the server
  // checks each against its definition and their HMAC (attributes_hash).
  if (who.attributes && typeof who.attributes === "object" && !Array.isArray(who.attributes)) clean.attributes = who.attributes;
  if (typeof who.attributes_hash === "string") clean.attributes_hash = wellFormed(who.attributes_hash);
  return clean;
}
function sendIdentity() {
  if (!pendingIdentity || !socket.isOpen) return;
  const who = pendingIdentity;
  socket.request({ type: "identify", user_id: who.user_id, user_hash: who.user_hash,
                   email: who.email, name: who.name, attributes: who.attributes,
                   attributes_hash: who.attributes_hash })
    .then((reply) => {
      if (reply.type === "identified") { boundUser = who.user_id; relock(); return; }
      if (reply.code === "identity_mismatch") { startAfresh(who); return; } // another user's visitor
      if (reply.type === "error") console.warn("Plug2Support identify:", reply.message);
    })
    .catch(() => { /* sent again on reconnect */ });
}
// The widget API's headers: the token, and the site user's proof (N7: a verified user's
// visitor answers only requests that prove that user).
function apiHeaders(extra = {}) {
  const headers = { Authorization: `Bearer ${store.get("token")}`, ...extra };
  if (pendingIdentity) {
    headers["Plug2Support-User-Id"] = encodeURIComponent(pendingIdentity.user_id);
    headers["Plug2Support-User-Hash"] = pendingIdentity.user_hash;
  }
  return headers;
}
// N7: someone else (the site logged its user out, or in as another user): a new visitor
// with nothing of the previous one — no token, no history, no unsent messages.
function startAfresh(who) {
  pendingIdentity = who;
  boundUser = null;
  store.drop("token");
  store.drop("outbox");
  outbox = [];
  thread = new Thread();
  conversationId = null;
  teamRead = 0;
  historyUpTo = 0;
  firstWelcome = true;
  input.value = "";
  offlineEmail.value = "";
  offlineDone.hidden = true;
  showError("");
  render();
  relock();
  if (started) socket.restart();
}
// The frame connects once the loader said who the user is (it does as soon as the frame
// loads), so the hello carries the identity; a frame without a loader's word connects
// after a while anyway (an older loader from a cache says nothing when nobody is logged in).
let started = false;
function start() {
  if (started) return;
  started = true;
  socket.connect();
}
// A widget that requires verified identity (N7) shows why instead of the composer (not in
// the settings page's preview, which shows the look).
const needsIdentity = () => Boolean(config.require_identity) && !config.preview && !boundUser;
let availabilityNow = null;
function relock() { if (availabilityNow) applyAvailability(availabilityNow); }
let isOpen = true; // the loader says when the frame is hidden or shown
let teamRead = 0; // the highest seq an operator has read
let historyUpTo = 0; // events up to this seq existed before this page loaded
const showTyping = typingDisplay(document.getElementById("typing"));
let availabilityTimer = null;

let conversationId = null;
let thread = new Thread();
let firstWelcome = true;
// Messages not yet acknowledged, kept across reloads: resent with the same client_id, so the
// server stores each once however often it is sent (C8).
let outbox = JSON.parse(store.get("outbox") || "[]");

function saveOutbox() { store.set("outbox", JSON.stringify(outbox)); }

function showError(text) {
  errorEl.textContent = text;
  errorEl.hidden = !text;
}

function bubble(event, pending = false) {
  const li = document.createElement("li");
  if (event.kind === "message") {
    li.className = `msg ${event.sender === "visitor" ? "mine" : "theirs"}${pending ? " pending" : ""}`;
    if (event.sender !== "visitor" && event.author) {
      const who = document.createElement("span");
      who.className = "who";
      who.textContent = event.author.name;
      li.append(who);
    }
    let text;
    if (typeof event.html === "string" && event.html) {
      // The team's Markdown, rendered and sanitised on the server (nh3; raw HTML off):
      // the one HTML a message puts in the page. Anything else is text.
      text = document.createElement("div");
      text.className = "md";
      text.innerHTML = event.html;
    } else {
      text = document.createElement("p");
      text.append(linkify(event.body)); // text nodes and safe links, never HTML
    }
    const meta = document.createElement("span");
    meta.className = "meta";
    meta.textContent = pending ? "Sending…" : timeOf(event.created_at);
    li.append(text);
    if (event.attachments && event.attachments.length) li.append(files(event.attachments));
    li.append(meta);
  } else {
    li.className = "system";
    li.textContent = event.body;
  }
  return li;
}

// Attachments open through signed links (N8, files.js), asked for as this widget's visitor.
const { files, reloadImages } = attachmentFiles(config.widget, apiHeaders, showError);

// B3: the brand colour and the text colour chosen to read on it; light or dark.
function applyLook(look) {
  const root = document.documentElement;
  root.style.setProperty("--brand", look.brand);
  root.style.setProperty("--on-brand", look.on_brand);
  root.classList.toggle("dark", look.appearance === "dark");
  root.classList.toggle("light", look.appearance !== "dark");
}
applyLook(config.look);
const homeEl = document.getElementById("home");
const cardsEl = document.getElementById("cards");

function render() {
  const events = thread.ordered();
  const mine = events.filter((e) => e.kind === "message" && e.sender === "visitor");
  const lastMine = mine.length ? mine[mine.length - 1] : null;
  // K2: a rating question with no answer yet is drawn as its card (rating.js).
  const answered = new Set(events.filter((e) => e.kind === "rating" && e.details)
    .map((e) => e.details.asked));
  const items = events.map((e) => {
    const rated = ratingItem(e, answered);
    return rated === undefined ? bubble(e) : rated;
  }).filter(Boolean);
  if (lastMine && teamRead >= lastMine.seq && lastMine === events[events.length - 1]) {
    const seen = document.createElement("li");
    seen.className = "receipt";
    seen.textContent = "Seen";
    items.push(seen);
  }
  threadEl.replaceChildren(
    ...items,
    ...outbox.map((m) => bubble({ kind: "message", sender: "visitor",
                                  body: m.body || (m.names || []).map((n) => `Attachment: ${n}`).join(" ") }, true)),
  );
  sendReceipt();
  hintEl.hidden = mode !== "live" || needsIdentity() || thread.events.size > 0 || outbox.length > 0;
  // The home: the cards (B4) until the conversation starts; the article search (G1)
  // whenever it is on, so a visitor can still look something up mid-conversation.
  const started = thread.events.size > 0 || outbox.length > 0;
  cardsEl.hidden = started;
  homeEl.hidden = !config.search_enabled && (started || !cardsEl.querySelector("li"));
  scroller.follow();
}

// Live chat when the business is open and someone is online; otherwise the offline form
// (C6). The server says when the hours next change; we ask again then.
function applyAvailability(availability) {
  mode = availability.mode;
  availabilityNow = availability;
  const locked = needsIdentity() && mode !== "unavailable";
  // "unavailable": the company's chat is blocked (H6); no form at all, the thread stays.
  offlineForm.hidden = mode !== "offline" || locked;
  document.getElementById("unavailable").hidden = mode !== "unavailable";
  document.getElementById("identity-needed").hidden = !locked;
  form.hidden = mode !== "live" || locked;
  hintEl.hidden = mode !== "live" || locked || thread.events.size > 0 || outbox.length > 0;
  statusEl.textContent = mode === "live" ? "We reply as soon as we can"
    : mode === "unavailable" ? "Chat is unavailable at the moment"
    : availability.open ? "Nobody is available right now" : "We're closed right now";
  clearTimeout(availabilityTimer);
  // A block that ends with its billing period is not announced: ask again now and then.
  const next = mode === "unavailable" ? Date.now() + 15 * 60 * 1000
    : availability.next_change ? Date.parse(availability.next_change) : null;
  if (next) {
    const wait = Math.min(next - Date.now() + 1000, 6 * 3600 * 1000);
    availabilityTimer = setTimeout(() => socket.send({ type: "availability" }), Math.max(wait, 1000));
  }
}

// Delivered: this device has it; read: the widget is open and the page visible.
let sentDelivered = 0;
let sentRead = 0;
function sendReceipt() {
  if (!conversationId || !socket.isOpen) return;
  const last = thread.lastSeq;
  const read = isOpen && document.visibilityState === "visible" ? last : sentRead;
  if (last > sentDelivered || read > sentRead) {
    socket.send({ type: "receipt", delivered: last, read });
    sentDelivered = last;
    sentRead = read;
  }
}

function sendMessage(message) {
  socket.request({ type: "message", client_id: message.client_id, body: message.body,
                   attachments: message.attachments || [],
                   website: document.getElementById("website").value })
    .then((reply) => {
      if (reply.type === "error") {
        showError(reply.message);
        if (reply.code === "rate_limited") { // kept, and sent again once the window has passed
          setTimeout(() => sendMessage(message), (reply.retry_after || 10) * 1000);
          return;
        }
      }
      outbox = outbox.filter((m) => m.client_id !== message.client_id);
      saveOutbox();
      render();
    })
    .catch(() => { /* still in the outbox: resent on reconnect */ });
}

function flushOutbox() { outbox.forEach(sendMessage); }

const ratingItem = ratingThread((frame) => socket.request(frame));

// The settings page's live preview (B5) has no socket: a stand-in that sends nothing.
const socket = config.preview ? { isOpen: false, connect() {}, send() {}, request: () => new Promise(() => {}) } : new LiveSocket(config.socket_path, {
  onOpen(s) {
    // The first connection of a page replays the whole history; a reconnect asks only for
    // what it missed.
    helloIdentity = pendingIdentity;
    s.send({ type: "hello", widget: config.widget, token: store.get("token"), vid, invite,
             conversation: conversationId, after: firstWelcome ? 0 : thread.lastSeq,
             identity: helloIdentity,
             // M8: shown in the operator's sidebar (protocol.md, hello).
             language: navigator.language, timezone: Intl.DateTimeFormat().resolvedOptions().timeZone });
    invite = null; // used once
  },
  onFrame(frame) {
    if (frame.type === "availability") {
      applyAvailability(frame.availability);
    } else if (frame.type === "welcome") {
      boundUser = frame.contact && helloIdentity ? helloIdentity.user_id : null;
      // The page identified another user while this hello was on its way: nothing of this
      // visitor is shown (N7).
      if (boundUser && pendingIdentity && pendingIdentity.user_id !== boundUser) {
        startAfresh(pendingIdentity);
        return;
      }
      store.set("token", frame.token);
      if (frame.identity_error) console.warn("Plug2Support identify:", frame.identity_error.message);
      if (frame.visitor.email && !offlineEmail.value) offlineEmail.value = frame.visitor.email;
      const id = frame.conversation ? frame.conversation.id : null;
      if (id !== conversationId) { thread = new Thread(); conversationId = id; }
      teamRead = frame.conversation ? frame.conversation.receipts.team_read : 0;
      if (firstWelcome && frame.conversation) historyUpTo = frame.conversation.last_seq;
      sentDelivered = 0;
      sentRead = 0;
      firstWelcome = false;
      render();
      applyAvailability(frame.availability);
      flushOutbox();
      reloadImages();
      if (pendingIdentity !== helloIdentity) sendIdentity(); // it came after the hello went
    } else if (frame.type === "conversation_started") {
      if (frame.conversation.id !== conversationId) {
        conversationId = frame.conversation.id;
        thread = new Thread();
      }
    } else if (frame.type === "event") {
      if (frame.conversation !== conversationId) { conversationId = frame.conversation; thread = new Thread(); }
      if (thread.add(frame)) {
        if (frame.client_id) {
          outbox = outbox.filter((m) => m.client_id !== frame.client_id);
          saveOutbox();
        }
        if (frame.kind === "message" && frame.sender === "operator") showTyping.hide();
        render();
        // Only new messages count for the page's "message" event, not the history replayed
        // when the frame loads.
        if (frame.kind === "message" && frame.sender === "operator" && frame.seq > historyUpTo) {
          toPage({ p2s: "unread", message: { body: frame.body, author: frame.author && frame.author.name } });
        }
      }
    } else if (frame.type === "typing") {
      showTyping(frame.who.name);
    } else if (frame.type === "receipt") {
      if (frame.conversation === conversationId && frame.team_read > teamRead) {
        teamRead = frame.team_read;
        render();
      }
    } else if (frame.type === "error" && !frame.ref) {
      showError(frame.message);
    }
  },
  onStatus(state) {
    if (state !== "open") {
      statusEl.textContent = {
        connecting: "Connecting…", reconnecting: "Reconnecting…", refused: "Chat unavailable",
      }[state] || "";
    }
    // Not "offline": that is the offline form's class, whose grid would put Send on a row
    // of its own.
    form.classList.toggle("disconnected", state !== "open");
  },
});

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const body = input.value.trim();
  if (!body) return;
  if (body.length > config.max_chars) { showError(`A message is at most ${config.max_chars} characters.`); return; }
  showError("");
  const message = { client_id: newId(), body };
  outbox.push(message);
  saveOutbox();
  input.value = "";
  render();
  scroller.pin(); // the visitor's own message is always shown
  sendMessage(message);
});
offlineForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  showError("");
  const email = offlineEmail.value.trim();
  const body = offlineBody.value.trim();
  if (!offlineEmail.checkValidity() || !email) { showError("Give an e-mail address we can answer to."); return; }
  if (!body) { showError("Write your message."); return; }
  const message = { type: "offline_message", client_id: newId(), email, body };
  for (let attempt = 0; attempt < 30; attempt += 1) {
    try {
      const reply = await socket.request(message);
      if (reply.type === "error") { showError(reply.message); return; }
      offlineBody.value = "";
      offlineDone.textContent = `Thanks! We'll reply to ${email}.`;
      offlineDone.hidden = false;
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 1000)); // reconnecting: same client_id, stored once
    }
  }
  showError("We could not send your message. Please try again.");
});
document.getElementById("file").addEventListener("change", async (event) => {
  const file = event.target.files[0];
  event.target.value = "";
  if (!file) return;
  showError("");
  const data = new FormData();
  data.append("file", file);
  try {
    const response = await fetch(`/widget/api/${encodeURIComponent(config.widget)}/attachments`, {
      method: "POST", body: data, headers: apiHeaders(),
    });
    const reply = await response.json();
    if (!response.ok) { showError(reply.error.message); return; }
    const message = { client_id: newId(), body: input.value.trim(), attachments: [reply.id], names: [reply.name] };
    input.value = "";
    outbox.push(message);
    saveOutbox();
    render();
    scroller.pin();
    sendMessage(message);
  } catch {
    showError("The file could not be sent. Please try again.");
  }
});
input.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); form.requestSubmit(); }
});
document.getElementById("close").addEventListener("click", () => toPage({ p2s: "close" }));
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape") toPage({ p2s: "close" });
});
const typing = typingSender(() => socket.send({ type: "typing" }));
input.addEventListener("input", () => { if (conversationId) typing(); });
window.addEventListener("message", (event) => {
  if (!fromPage(event) || !event.data) return;
  if (event.data.p2s === "opened") { isOpen = true; input.focus(); sendReceipt(); }
  if (event.data.p2s === "closed") isOpen = false;
  if (event.data.p2s === "identify") {
    const who = cleanIdentity(event.data.who);
    if (who && boundUser && who.user_id !== boundUser) startAfresh(who); // N7: another user
    else { pendingIdentity = who; sendIdentity(); }
    start();
  }
  if (event.data.p2s === "reset") {
    if (typeof event.data.vid === "string" && VID.test(event.data.vid)) vid = event.data.vid;
    startAfresh(null);
    start();
  }
});
document.addEventListener("visibilitychange", sendReceipt);

render();
if (parent === window || config.preview) start();
else setTimeout(start, 3000);
input.focus();

// B5: the settings page shows this frame as it will look, and sends what is being edited.
if (config.preview) {
  applyAvailability({ mode: "live", open: true, operators_online: true, next_change: null });
  render();
  window.addEventListener("message", (event) => {
    if (!fromPage(event) || !event.data || event.data.p2s !== "preview") return;
    const look = event.data.look;
    applyLook(look);
    document.getElementById("chat-title").textContent = look.title;
    const logo = document.getElementById("brand-logo");
    if (look.brand_logo) logo.src = look.brand_logo;
    logo.hidden = !look.brand_logo;
    // The Search switch shows or hides the search box before it is saved.
    config.search_enabled = Boolean(look.search_enabled);
    document.getElementById("search").hidden = !config.search_enabled;
    render();
  });
  parent.postMessage({ p2s: "preview-ready" }, location.origin);
}

// G1: the company's help articles, searched as the visitor types and read in the widget.
if (config.search_enabled) {
  const q = document.getElementById("search-q");
  const results = document.getElementById("results");
  const articleEl = document.getElementById("article");
  const api = `/widget/api/${encodeURIComponent(config.widget)}/articles`;
  let asked = 0;
  let searchTimer = null;
  const showArticle = (shown) => {
    articleEl.hidden = !shown;
    threadEl.hidden = shown;
    homeEl.classList.toggle("reading", shown);
  };
  async function search() {
    const text = q.value.trim();
    const mine = ++asked;
    if (!text) { results.hidden = true; results.replaceChildren(); return; }
    const response = await fetch(`${api}?q=${encodeURIComponent(text)}`).catch(() => null);
    if (mine !== asked || !response || !response.ok) return; // a later search answers
    const data = await response.json();
    const items = data.articles.map((a) => {
      const li = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      const title = document.createElement("strong");
      title.textContent = a.title;
      const excerpt = document.createElement("span");
      excerpt.textContent = a.excerpt;
      button.append(title, excerpt);
      button.addEventListener("click", () => read(a.id));
      li.append(button);
      return li;
    });
    if (!items.length) {
      const none = document.createElement("li");
      none.className = "none";
      none.textContent = "No article matches. Ask us below!";
      items.push(none);
    }
    results.replaceChildren(...items);
    results.hidden = false;
  }
  async function read(id) {
    const response = await fetch(`${api}/${id}`).catch(() => null);
    if (!response || !response.ok) { showError("This article could not be opened."); return; }
    const article = await response.json();
    document.getElementById("article-title").textContent = article.title;
    // Rendered from Markdown and sanitised by the server (knowledge/markdown.py).
    document.getElementById("article-body").innerHTML = article.html;
    homeEl.hidden = true;
    showArticle(true);
    articleEl.focus();
  }
  function back() {
    showArticle(false);
    render();
    q.focus();
  }
  q.addEventListener("input", () => { clearTimeout(searchTimer); searchTimer = setTimeout(search, 150); });
  document.getElementById("search").addEventListener("submit", (event) => { event.preventDefault(); search(); });
  document.getElementById("article-back").addEventListener("click", back);
  articleEl.addEventListener("keydown", (event) => {
    if (event.key === "Escape") { event.stopPropagation(); back(); }
  });
}
