// The console's service worker (M11), served at /sw.js by push/webapp.py, which writes the
// line above: SHELL = {version, urls, offline, icon, badge}.
//
// What it keeps: ONLY the static shell (SHELL.urls: the console's styles, scripts, icons and
// the offline page), fetched without cookies at install. It never stores anything else —
// no page of the console, no JSON, no attachment: those are private answers of one member,
// and a cache outlives a logout. Shell files are asked from the network first (a deploy is
// seen at once) and taken from the cache only when the network fails; a page that cannot be
// reached gets the offline page. Everything else passes through untouched.
/* global SHELL */

const PREFIX = "p2s-shell-";
const CACHE = `${PREFIX}${SHELL.version}`;
const SHELL_PATHS = new Set(SHELL.urls);
// Public pages for visitors (the widget frame, help articles): not the console's offline page.
const NOT_CONSOLE = ["/widget/", "/help/"];

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    await cache.addAll(SHELL.urls.map((url) => new Request(url, { credentials: "omit", cache: "reload" })));
    // Shell files are network-first, so a new worker may take over open pages at once.
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith(PREFIX) && name !== CACHE) await caches.delete(name);
    }
    if (self.registration.navigationPreload) await self.registration.navigationPreload.enable();
    await self.clients.claim();
  })());
});

async function page(event) {
  try {
    const preloaded = await event.preloadResponse;
    if (preloaded) return preloaded;
    return await fetch(event.request);
  } catch {
    const offline = await caches.match(SHELL.offline, { cacheName: CACHE });
    return offline || Response.error();
  }
}

async function shellFile(request, path) {
  try {
    return await fetch(request);
  } catch {
    const cached = await caches.match(path, { cacheName: CACHE });
    return cached || Response.error();
  }
}

self.addEventListener("fetch", (event) => {
  const { request } = event;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === "navigate") {
    if (!NOT_CONSOLE.some((prefix) => url.pathname.startsWith(prefix))) event.respondWith(page(event));
    return;
  }
  if (url.pathname.startsWith("/static/") && !url.search && SHELL_PATHS.has(url.pathname)) {
    event.respondWith(shellFile(request, url.pathname));
  }
});

// A URL of ours (path, query, fragment), or null: a push never opens another site.
function ours(value) {
  if (typeof value !== "string") return null;
  try {
    const url = new URL(value, self.location.origin);
    return url.origin === self.location.origin ? url.pathname + url.search + url.hash : null;
  } catch {
    return null;
  }
}

// The payload is push/sending.py's {title, url, kind}; the same tag as the console's own
// desktop notification (inbox/team.js), so one alert seen both ways shows once.
self.addEventListener("push", (event) => {
  let data = {};
  try { data = (event.data && event.data.json()) || {}; } catch { data = {}; }
  const url = ours(data.url) || "/inbox/";
  const title = typeof data.title === "string" && data.title ? data.title.slice(0, 120) : "Plug2Support";
  const kind = typeof data.kind === "string" ? data.kind : "alert";
  event.waitUntil(self.registration.showNotification(title, {
    body: typeof data.body === "string" ? data.body.slice(0, 200) : "",
    tag: `p2s-${kind}-${url}`,
    icon: SHELL.icon,
    badge: SHELL.badge,
    data: { url },
  }));
});

// A click focuses the console window already showing that URL, else an open inbox (which
// opens the conversation itself, inbox/focus.js, keeping its socket), else a new window.
self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const url = new URL(ours(event.notification.data && event.notification.data.url) || "/inbox/", self.location.origin);
  event.waitUntil((async () => {
    const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
    const showing = windows.find((w) => w.url === url.href);
    if (showing) return showing.focus();
    const inbox = windows.find((w) => new URL(w.url).pathname.startsWith("/inbox/"));
    if (inbox) {
      const focused = await inbox.focus();
      focused.postMessage({ type: "p2s:open", url: url.pathname });
      return focused;
    }
    return self.clients.openWindow(url.href);
  })());
});
