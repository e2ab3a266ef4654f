// Times the server wrote in UTC (<time class="local-time" datetime="…">) shown in the
// reader's own time zone and language, e.g. "2 Dec 2026, 06:49".
for (const el of document.querySelectorAll("time.local-time[datetime]")) {
  const when = new Date(el.getAttribute("datetime"));
  if (Number.isNaN(when.getTime())) continue;
  el.title = el.textContent; // the UTC time stays one hover away
  el.textContent = when.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
}
