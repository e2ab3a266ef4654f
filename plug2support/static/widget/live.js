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
      setTimeout(() => this.connect(), delay);
    };
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
