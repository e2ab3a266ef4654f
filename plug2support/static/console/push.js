// "Enable push notifications" (M11; docs/protocol.md, "Web Push"): every [data-push-control]
// on the page (the inbox's alert controls, the Alerts page) shows this device's push state for
// the person signed in — on, off, blocked, unsupported, unavailable — and turns it on (asks the
// browser's permission, subscribes with the server's VAPID key, saves the subscription) or off
// (removes it on the server, unsubscribes the browser).
const ENDPOINT = "/console/push/subscription";
const SUBSCRIBE_WAIT_MS = 20000; // a browser without a push service may never answer

const TEXT = {
  unsupported: ["", "This browser cannot receive push notifications."],
  blocked: ["", "Push notifications are blocked for this site: allow notifications in your browser's site settings."],
  off: ["Enable push notifications", "Push notifications are off on this device."],
  on: ["Turn off push notifications", "Push notifications are on for this device."],
  unavailable: ["Try push notifications again", "This browser could not reach its push service, so push notifications cannot be turned on here."],
  busy: ["Working…", ""],
};

const controls = [...document.querySelectorAll("[data-push-control]")];

function csrfToken() {
  const match = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

function supported() {
  return window.isSecureContext && "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
}

function show(state, message = "") {
  for (const control of controls) {
    const [label, text] = TEXT[state];
    const button = control.querySelector("[data-push-toggle]");
    control.dataset.pushState = state;
    button.hidden = !label;
    button.disabled = state === "busy";
    button.textContent = label;
    control.querySelector("[data-push-status]").textContent = message || text;
  }
}

async function server(method, body) {
  const response = await fetch(ENDPOINT, {
    method, credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(answer.message || `The server refused (${response.status}).`);
  return answer;
}

async function registration() {
  await navigator.serviceWorker.register("/sw.js", { scope: "/" });
  return navigator.serviceWorker.ready;
}

async function sha256(text) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

function base64urlBytes(text) {
  const plain = atob(text.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (text.length % 4)) % 4));
  return Uint8Array.from(plain, (c) => c.charCodeAt(0));
}

// A subscription made with an older server key can no longer be pushed to: made anew.
function madeWith(subscription, key) {
  const used = subscription.options && subscription.options.applicationServerKey;
  if (!used) return true;
  const a = new Uint8Array(used);
  return a.length === key.length && a.every((byte, i) => byte === key[i]);
}

function withDeadline(promise) {
  return Promise.race([promise, new Promise((_, reject) => {
    setTimeout(() => reject(new Error("the push service did not answer")), SUBSCRIBE_WAIT_MS);
  })]);
}

// On only when this browser's subscription is saved for this person in this company: someone
// else signed in on the same browser has not said yes.
async function current() {
  if (!supported()) return "unsupported";
  if (Notification.permission === "denied") return "blocked";
  const [ready, saved] = await Promise.all([registration(), server("GET")]);
  const subscription = await ready.pushManager.getSubscription();
  if (!subscription || Notification.permission !== "granted") return "off";
  return saved.endpoints.includes(await sha256(subscription.endpoint)) ? "on" : "off";
}

async function enable() {
  const permission = await Notification.requestPermission();
  if (permission === "denied") return "blocked";
  if (permission !== "granted") return "off";
  const [ready, saved] = await Promise.all([registration(), server("GET")]);
  const key = base64urlBytes(saved.public_key);
  let subscription = await ready.pushManager.getSubscription();
  if (subscription && !madeWith(subscription, key)) {
    await subscription.unsubscribe();
    subscription = null;
  }
  if (!subscription) {
    try {
      subscription = await withDeadline(ready.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key }));
    } catch {
      return "unavailable";
    }
  }
  await server("POST", subscription.toJSON());
  return "on";
}

// Off for this device: the browser's subscription goes, so no account on it is pushed to.
async function disable() {
  const subscription = await (await registration()).pushManager.getSubscription();
  if (subscription) {
    await server("DELETE", { endpoint: subscription.endpoint });
    await subscription.unsubscribe();
  }
  return "off";
}

async function run(step, busy = true) {
  if (busy) show("busy");
  try {
    show(await step());
  } catch (error) {
    show("off", `Push notifications could not be changed: ${error.message}`);
  }
}

if (controls.length) {
  for (const control of controls) {
    control.querySelector("[data-push-toggle]").addEventListener("click", () => {
      run(control.dataset.pushState === "on" ? disable : enable);
    });
  }
  run(current, false); // the controls stay hidden until the state is known
}
