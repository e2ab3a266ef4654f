// M11: the `focus` frame (docs/protocol.md, "Web Push") — which conversation this console
// shows while the person looks at it (window focused and visible), null otherwise, so the
// server pushes nothing about it to their devices meanwhile. Sent only when that changes;
// a new socket starts at null on the server (realtime/presence.py), so it is told again.
// And a click on a push notification when this inbox is open opens it here (the service
// worker's message), keeping the socket.
import { open } from "./conversation.js";
import { socket } from "./server.js";
import { on, store } from "./store.js";

let told = { ws: null, conversation: null };

function looking() {
  return document.visibilityState === "visible" && document.hasFocus() ? store.selectedId : null;
}

function report() {
  if (!socket.isOpen) return;
  const conversation = looking();
  const known = told.ws === socket.ws ? told.conversation : null;
  if (conversation === known) return;
  told = { ws: socket.ws, conversation };
  // A refusal (a conversation gone meanwhile) is shown by the page's error handler.
  socket.request({ type: "focus", conversation }).catch(() => {});
}

on("pane", report); // a conversation opened or closed, and every (re)connection's snapshot
window.addEventListener("focus", report);
window.addEventListener("blur", report);
document.addEventListener("visibilitychange", report);

if ("serviceWorker" in navigator) {
  navigator.serviceWorker.addEventListener("message", (event) => {
    const match = event.data && event.data.type === "p2s:open" && /^\/inbox\/(\d+)\/$/.exec(event.data.url || "");
    if (match) open(Number(match[1]), true);
  });
}
