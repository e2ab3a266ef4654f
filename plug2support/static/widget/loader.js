/* Plug2Support loader: the one script a customer's page includes.
 * It adds a launcher button in a closed shadow root (host page styles cannot reach it, and
 * its styles cannot leak out) and, on the first click only, an iframe served from our
 * origin with the chat. It defines no globals but `Plug2Support`, loads asynchronously, and
 * on a browser it cannot serve it shows nothing (B2). */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !window.fetch || !window.WebSocket || !Element.prototype.attachShadow) return;
  if (window.Plug2Support) return; // the snippet pasted twice
  var key = script.getAttribute("data-widget");
  var base = new URL(script.src).origin;
  // The page's API (B6): open, close, toggle, identify, reset, and events (message, opened,
  // closed). reset (N7): the site's user logged out; the chat starts afresh for whoever is next.
  var listeners = { message: [], opened: [], closed: [] };
  var identity = null;
  var api = {
    open: noop, close: noop, toggle: noop,
    identify: function (who) { identity = plainIdentity(who); sendIdentity(); },
    // A new site visitor too: the old vid stays linked to the person who logged out, and an
    // operator's invite to it must not reach whoever browses next (N7).
    reset: function () { identity = null; vid = visitorId(true); remember(RESET, "1"); sendReset(); },
    on: function (name, fn) { if (listeners[name]) listeners[name].push(fn); }
  };
  var sendIdentity = noop, sendReset = noop;
  // The four fields only, and only plain values: a page's own user object (with methods,
  // say) cannot be posted to the frame. The frame makes them fit for its hello.
  function plainIdentity(who) {
    if (who === null || who === undefined) return null;
    var copy = {};
    ["user_id", "user_hash", "email", "name"].forEach(function (name) {
      var value = who[name], kind = typeof value;
      if (kind === "string" || kind === "number" || kind === "boolean" || kind === "bigint") copy[name] = value;
    });
    // M9: custom attributes, as plain JSON (the site's HMAC covers their JSON, §7).
    if (typeof who.attributes_hash === "string") copy.attributes_hash = who.attributes_hash;
    if (who.attributes && typeof who.attributes === "object") {
      try { copy.attributes = JSON.parse(JSON.stringify(who.attributes)); } catch (e) { /* not JSON: left out */ }
    }
    return copy;
  }
  // A reset is kept in the site's storage until the frame has it: the chat may open only on a
  // later page (the site logs out, then goes to its home page).
  var RESET = "p2s:reset";
  window.Plug2Support = api;
  function noop() {}
  function remember(name, value) {
    try { if (value) localStorage.setItem(name, value); else localStorage.removeItem(name); } catch (e) { /* no storage */ }
  }
  function remembered(name) { try { return localStorage.getItem(name); } catch (e) { return null; } }
  function emit(name, detail) {
    (listeners[name] || []).forEach(function (fn) { try { fn(detail); } catch (e) { /* theirs */ } });
  }

  var api_base = base + "/widget/api/" + encodeURIComponent(key);
  fetch(api_base + "/config", { credentials: "omit" })
    .then(function (r) { return r.ok ? r.json() : null; })
    .then(function (config) { if (config) mount(config); })
    .catch(noop);

  // This browser on this site, so operators can see who is here and start a chat (C7).
  // Kept in the site's own storage; it says nothing about the person.
  function visitorId(fresh) {
    var name = "p2s:vid";
    try {
      var vid = fresh ? null : localStorage.getItem(name);
      if (!vid) {
        var bytes = crypto.getRandomValues(new Uint8Array(12));
        vid = Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
        localStorage.setItem(name, vid);
      }
      return vid;
    } catch (e) { return ""; }
  }
  var vid = visitorId();

  function mount(config) {
    // A custom element (no host rule for div/span reaches it) with every property inline and
    // !important: an inline important declaration beats the host page's important rules.
    // B3: the side it sits on, how far from that side and from the bottom, the colours.
    var look = config.look || {};
    var side = look.alignment === "left" ? "left" : "right";
    var dx = (look.side | 0) + "px", dy = (look.bottom | 0) + "px";
    var host = document.createElement("plug2support-widget");
    host.setAttribute("data-plug2support", "");
    host.style.cssText = [
      "all:initial", "display:block", "position:fixed", "z-index:2147483000", side + ":" + dx,
      "bottom:" + dy, "width:56px", "height:56px", "margin:0", "padding:0", "border:0",
      "transform:none", "filter:none", "opacity:1", "visibility:visible", "contain:none"
    ].join(" !important;") + " !important;";
    var root = host.attachShadow({ mode: "closed" });
    root.innerHTML =
      "<style>" +
      ":host{all:initial}" +
      ".launcher{all:unset;box-sizing:border-box;width:56px;height:56px;border-radius:50%;" +
      "background:" + (look.brand || "#4f46e5") + ";color:" + (look.on_brand || "#fff") +
      ";display:flex;align-items:center;justify-content:center;" +
      "cursor:pointer;box-shadow:0 6px 20px rgba(0,0,0,.25);transition:transform .15s}" +
      ".launcher:hover{transform:scale(1.06)}.launcher:focus-visible{outline:3px solid #a5b4fc;outline-offset:3px}" +
      ".launcher svg{width:28px;height:28px}.launcher img{width:28px;height:28px;object-fit:contain}" +
      ".badge{position:absolute;top:-2px;right:-2px;min-width:18px;height:18px;border-radius:9px;" +
      "background:#ef4444;color:#fff;font:700 11px/18px system-ui,sans-serif;text-align:center;display:none}" +
      "iframe{position:fixed;" + side + ":" + dx + ";bottom:calc(" + dy + " + 68px);width:380px;" +
      "height:min(600px,calc(100vh - " + dy + " - 88px));" +
      "border:0;border-radius:16px;box-shadow:0 12px 48px rgba(0,0,0,.28);background:#fff;display:none}" +
      "@media (max-width:480px){iframe{" + side + ":0;bottom:0;width:100vw;height:100%;border-radius:0}}" +
      "</style>" +
      '<button class="launcher" type="button" aria-label="Open chat" aria-expanded="false">' +
      '<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" aria-hidden="true">' +
      '<path d="M21 12a8 8 0 0 1-11.6 7.1L4 20l1-4.6A8 8 0 1 1 21 12z"/></svg>' +
      '<span class="badge" aria-hidden="true"></span></button>';
    var button = root.querySelector(".launcher");
    if (look.launcher_logo) {
      var logo = document.createElement("img");
      logo.alt = "";
      logo.src = look.launcher_logo;
      button.replaceChild(logo, button.querySelector("svg"));
    }
    var badge = root.querySelector(".badge");
    var frame = null;
    var frameLoaded = false;
    var isOpen = false;
    var unread = 0;

    function open(invite) {
      if (!frame) {
        frame = document.createElement("iframe");
        frame.title = "Chat with us";
        // In the fragment: never sent to a server, read by the frame's script only.
        // The host page's writing direction (a right-to-left site gets a right-to-left chat).
        var dir = (document.documentElement.dir || document.body.dir ||
                   getComputedStyle(document.documentElement).direction) === "rtl" ? "rtl" : "ltr";
        // And this page's origin: the frame posts to it only, and hears only it (N8).
        frame.src = config.frame_url + "#vid=" + vid + "&dir=" + dir +
          "&origin=" + encodeURIComponent(location.origin) +
          (invite ? "&invite=" + invite : "");
        // Until it loads, the frame holds a blank document of another origin: a message
        // posted then is dropped. So nothing is posted before, and the loaded frame is told
        // the state it would have missed: a reset, the identity, open or closed.
        frame.addEventListener("load", function () {
          frameLoaded = true;
          sendReset();
          sendIdentity();
          toFrame({ p2s: isOpen ? "opened" : "closed" });
        });
        root.appendChild(frame);
      }
      frame.style.display = "block";
      fitKeyboard();
      isOpen = true;
      unread = 0;
      badge.style.display = "none";
      button.setAttribute("aria-expanded", "true");
      button.setAttribute("aria-label", "Close chat");
      toFrame({ p2s: "opened" });
      emit("opened");
    }
    function close() {
      if (isOpen) emit("closed");
      if (frame) {
        frame.style.display = "none";
        toFrame({ p2s: "closed" });
      }
      isOpen = false;
      button.setAttribute("aria-expanded", "false");
      button.setAttribute("aria-label", "Open chat");
    }
    // On a phone the open chat fills the screen; when the on-screen keyboard opens, it
    // fills what is left above it, so the composer stays in sight.
    var viewport = window.visualViewport;
    function fitKeyboard() {
      if (!frame || !viewport || window.innerWidth > 480) {
        if (frame) { frame.style.height = ""; frame.style.top = ""; }
        return;
      }
      frame.style.height = viewport.height + "px";
      frame.style.top = viewport.offsetTop + "px";
    }
    if (viewport) {
      viewport.addEventListener("resize", fitKeyboard);
      viewport.addEventListener("scroll", fitKeyboard);
    }
    // Sent when the frame loads even when nobody is identified: the frame waits for it to
    // connect, so its first hello already says who the user is (N7).
    function toFrame(message) {
      if (!frameLoaded || !frame.contentWindow) return false; // told when it loads
      frame.contentWindow.postMessage(message, base);
      return true;
    }
    sendIdentity = function () { toFrame({ p2s: "identify", who: identity }); };
    sendReset = function () {
      // With the new vid: the frame's later hellos link the new visitor to it (its
      // fragment may still carry the old one).
      if (remembered(RESET) && toFrame({ p2s: "reset", vid: vid })) remember(RESET, null);
    };
    api.open = function () { open(); };
    api.close = function () { close(); button.focus(); };
    api.toggle = function () { if (isOpen) api.close(); else open(); };
    button.addEventListener("click", api.toggle);
    // Only our frame, at our origin: another frame or window of the page (or one the page
    // opened) cannot close the chat or raise the badge.
    window.addEventListener("message", function (event) {
      if (event.origin !== base || !frame || event.source !== frame.contentWindow) return;
      var data = event.data || {};
      if (data.p2s === "close") api.close();
      if (data.p2s === "unread") emit("message", data.message || null);
      if (data.p2s === "unread" && !isOpen) {
        unread += 1;
        badge.textContent = String(unread);
        badge.style.display = "block";
      }
    });
    (document.body || document.documentElement).appendChild(host);

    // Page views and a heartbeat while the page is visible; an operator's invite opens
    // the chat. A "simple" request (text/plain): no preflight round trip.
    function beat() {
      if (!vid || document.visibilityState === "hidden") return;
      fetch(api_base + "/pageview", {
        method: "POST", credentials: "omit", keepalive: true,
        headers: { "Content-Type": "text/plain" },
        body: JSON.stringify({ vid: vid, url: location.href, title: document.title,
                               referrer: document.referrer })
      }).then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (data && data.invite && !isOpen) open(data.invite.code);
        }).catch(noop);
    }
    beat();
    setInterval(beat, (config.heartbeat_seconds || 30) * 1000);
    document.addEventListener("visibilitychange", beat);
  }
})();
