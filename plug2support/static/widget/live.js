// A reconnecting WebSocket with request/reply by "ref" (docs/protocol.md).
// Shared by the widget frame and the operator console; both are served from our origin.

const FATAL = new Set([4401, 4403, 4404]);

export function newId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

export class LiveSocket {
  constructor(path, { onOpen, onFrame, onStatus }) {
    this.url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${path}`;
    this.onOpen = onOpen;
    this.onFrame = onFrame;
    this.onStatus = onStatus || (() => {});
    this.pending = new Map();
    this.attempt = 0;
    this.ws = null;
    this.stopped = false;
  }

  connect() {
    this.onStatus(this.attempt ? "reconnecting" : "connecting");
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.onopen = () => {
      this.openedAt = Date.now();
      this.onStatus("open");
      this.onOpen(this);
    };
    ws.onmessage = (message) => {
      let frame;
      try { frame = JSON.parse(message.data); } catch { return; }
      if (frame.ref && this.pending.has(frame.ref)) {
        const { resolve } = this.pending.get(frame.ref);
        this.pending.delete(frame.ref);
        resolve(frame);
      }
      this.onFrame(frame);
    };
    ws.onclose = (event) => {
      for (const { reject } of this.pending.values()) reject(new Error("disconnected"));
      this.pending.clear();
      if (this.stopped) return;
      if (FATAL.has(event.code)) {
        this.stopped = true;
        this.onStatus("refused", event.code);
        return;
      }
      // Back off (with jitter) so a restarted server is not hit by every client at once; a
      // connection that lived a while starts again from a short delay, one closed at once
      // (rate limited, timed out) keeps backing off.
      if (this.openedAt && Date.now() - this.openedAt > 10000) this.attempt = 0;
      this.openedAt = 0;
      const delay = Math.min(15000, 500 * 2 ** this.attempt) * (0.5 + Math.random());
      this.attempt += 1;
      this.onStatus("reconnecting");
      this.retry = setTimeout(() => this.connect(), delay);
    };
  }

  // Someone else on this page (N7): the open socket is dropped unheard — nothing more of the
  // previous visitor arrives — and a new one opens at once, with a new hello.
  restart() {
    const old = this.ws;
    if (old) {
      old.onopen = old.onmessage = old.onclose = null;
      old.close();
    }
    for (const { reject } of this.pending.values()) reject(new Error("restarted"));
    this.pending.clear();
    clearTimeout(this.retry);
    this.stopped = false;
    this.attempt = 0;
    this.connect();
  }

  get isOpen() { return this.ws && this.ws.readyState === WebSocket.OPEN; }

  send(frame) {
    if (!this.isOpen) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  // Send a frame and wait for the reply carrying the same ref (ack, claimed, error…).
  request(frame) {
    const ref = newId();
    return new Promise((resolve, reject) => {
      if (!this.send({ ...frame, ref })) { reject(new Error("offline")); return; }
      this.pending.set(ref, { resolve, reject });
    });
  }
}

// Events of one conversation, kept in seq order, each once.
export class Thread {
  constructor() { this.events = new Map(); this.lastSeq = 0; }
  add(event) {
    if (this.events.has(event.seq)) return false;
    this.events.set(event.seq, event);
    if (event.seq > this.lastSeq) this.lastSeq = event.seq;
    return true;
  }
  ordered() { return [...this.events.values()].sort((a, b) => a.seq - b.seq); }
}

export function timeOf(iso) {
  return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

// Text with its web links made clickable, safely: only http(s) URLs become links, every
// piece is a text node (never HTML), and links open in a new tab without an opener.
const URL_RE = /\bhttps?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)\]]/gi;

export function linkify(text) {
  const fragment = document.createDocumentFragment();
  let last = 0;
  for (const match of text.matchAll(URL_RE)) {
    if (match.index > last) fragment.append(text.slice(last, match.index));
    const a = document.createElement("a");
    a.href = match[0];
    a.textContent = match[0];
    a.target = "_blank";
    a.rel = "noopener noreferrer nofollow ugc";
    fragment.append(a);
    last = match.index + match[0].length;
  }
  if (last < text.length) fragment.append(text.slice(last));
  return fragment;
}

// Sends "typing" at most every 2 s while the person types (the server throttles too).
export function typingSender(send) {
  let lastSent = 0;
  return () => {
    const now = Date.now();
    if (now - lastSent < 2000) return;
    lastSent = now;
    send();
  };
}

// Shows "X is typing…" for a few seconds after the last typing frame; `.hide()` ends it at
// once, when the message that was being typed arrives.
export function typingDisplay(element) {
  let timer = null;
  const show = (name) => {
    element.textContent = `${name} is typing…`;
    element.hidden = false;
    clearTimeout(timer);
    timer = setTimeout(() => { element.hidden = true; }, 4000);
  };
  show.hide = () => { clearTimeout(timer); element.hidden = true; };
  return show;
}

// Keeps a scrolling thread at its newest message while the reader is there: after a render,
// when an image in it loads (late: a blob or a lazy image pushes the last message down) and
// when the box itself shrinks (typing line, phone keyboard). A reader who scrolled up to
// read back is left where they are until they scroll down again, or send (`pin`).
export function stickToBottom(el) {
  let pinned = true;
  const nearBottom = () => el.scrollHeight - el.scrollTop - el.clientHeight <= 24;
  // Where our own last scroll put the box: its scroll event comes a frame later, when an
  // image may already have grown the thread, and must not read as the reader leaving.
  let ours = -1;
  const follow = () => {
    if (!pinned) return;
    el.scrollTop = el.scrollHeight;
    ours = el.scrollTop;
  };
  // No scroll anchoring: when an image above grows, the browser would move scrollTop itself
  // and the scroll event it fires (before the image's load) would read as the reader's.
  el.style.overflowAnchor = "none";
  // A scroll the reader makes decides; ours (to the bottom) keeps it pinned.
  el.addEventListener("scroll", () => {
    if (Math.abs(el.scrollTop - ours) <= 1) return;
    pinned = nearBottom();
  }, { passive: true });
  el.addEventListener("load", follow, true); // load does not bubble: caught on the way down
  if ("ResizeObserver" in window) new ResizeObserver(follow).observe(el);
  return { follow, pin() { pinned = true; follow(); } };
}
