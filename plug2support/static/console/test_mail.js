// "Send a test mail" (E-mail settings): while a test is on its way, its status line asks the
// server every 2 s and says when the mail arrived, or that it is late (the server decides,
// by its own clock, after mail/testmail.py's WAIT_SECONDS). The line is a live region, so a
// screen reader hears the change.
const EVERY_MS = 2000;
const MAX_POLLS = 75; // ≈ 2.5 minutes, past the server's 2: a lost server never polls forever

function timeElement(iso) {
  const el = document.createElement("time");
  el.className = "local-time";
  el.setAttribute("datetime", iso);
  const when = new Date(iso);
  el.textContent = Number.isNaN(when.getTime()) ? iso
    : when.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
  return el;
}

function render(line, status) {
  const parts = [];
  if (status.state === "arrived") {
    const seconds = status.seconds;
    parts.push("Arrived at ", timeElement(status.received_at),
      ` (${seconds} second${seconds === 1 ? "" : "s"} after it was sent).`);
  } else if (status.state === "waiting") {
    parts.push("Test sent at ", timeElement(status.sent_at), ", waiting…");
  } else if (status.state === "late") {
    parts.push("Test sent at ", timeElement(status.sent_at),
      ": not arrived yet — check the forwarding, then send another test.");
  } else {
    parts.push("No test sent yet.");
  }
  line.replaceChildren(...parts);
  line.dataset.state = status.state;
}

async function follow(line) {
  let last = { state: "waiting",
    sent_at: line.querySelector("time")?.getAttribute("datetime") ?? "" };
  for (let polls = 0; polls < MAX_POLLS && line.dataset.state === "waiting"; polls++) {
    await new Promise((resolve) => setTimeout(resolve, EVERY_MS));
    let status;
    try {
      const response = await fetch(line.dataset.testStatus, {
        headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (!response.ok) continue;
      status = await response.json();
    } catch {
      continue; // offline for a moment: the next poll tries again
    }
    last = status;
    if (status.state !== line.dataset.state) render(line, status);
  }
  // The server never answered "late" (unreachable): the page says so itself.
  if (line.dataset.state === "waiting") render(line, { ...last, state: "late" });
}

for (const line of document.querySelectorAll("[data-test-status]")) {
  if (line.dataset.state === "waiting") follow(line);
}
