// The operator socket (docs/protocol.md, "Operator socket"): requests with their replies,
// and the frames the server pushes, handed to the table the page gives `connect`.
import { LiveSocket } from "../../widget/live.js";
import { changed, store } from "./store.js";

let handlers = {};
export const socket = new LiveSocket("/ws/operator", {
  onOpen(s) {
    if (store.selectedId) s.send({ type: "subscribe", conversation: store.selectedId, after: store.thread.lastSeq });
  },
  onFrame(frame) {
    const handle = handlers[frame.type];
    if (handle) handle(frame);
  },
  onStatus(status) {
    const live = document.getElementById("live");
    live.textContent = { open: "live", connecting: "connecting…", reconnecting: "reconnecting…", refused: "logged out" }[status] || status;
    live.className = `live ${status}`;
  },
});

export function connect(frameHandlers) {
  handlers = frameHandlers;
  socket.connect();
}

export function showError(text) {
  const box = document.getElementById("pane-error");
  box.textContent = text;
  box.hidden = !text;
}

// One request/reply with the server; a refusal or a lost connection is shown, not thrown.
export async function act(frame) {
  showError("");
  try {
    const reply = await socket.request(frame);
    if (reply.type === "error") { showError(reply.message); return null; }
    return reply;
  } catch {
    showError("Not connected. Try again in a moment.");
    return null;
  }
}

// A transfer request's action; its reply is the request as it now stands.
export async function answer(frame) {
  const reply = await act(frame);
  if (reply && reply.request) {
    store.transfers.set(reply.request.id, reply.request);
    changed("transfers", "pane");
  }
}

export async function send(frame) {
  // Resent with the same client_id until the server answers: stored once (C8).
  for (;;) {
    try {
      const reply = await socket.request(frame);
      if (reply.type === "error") { showError(reply.message); return false; }
      showError("");
      return true;
    } catch {
      if (socket.stopped) return false;
      showError("Reconnecting… your reply will be sent.");
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}
