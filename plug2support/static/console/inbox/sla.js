// Service targets (K3): the time-left chip of a summary's `sla` (docs/protocol.md §1). It
// counts down here from the `due_at` the server sent, once a second, for every chip shown:
// amber once the warning time (`warn_at`) has come, red past the due time. The text says
// the state too ("12m left", "Due soon: 4m left", "Breached 3m ago", "Paused: 20m left").
import { on, selected } from "./store.js";

const LABELS = { first_response: "First response", next_response: "Next response",
  resolution: "Resolution" };

function span(seconds) {
  const s = Math.max(0, Math.round(Math.abs(seconds)));
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m`;
  return `${s % 60}s`;
}

function paint(chip, now = Date.now()) {
  const sla = JSON.parse(chip.dataset.sla);
  const label = LABELS[sla.target] || "Target";
  let state, text;
  if (sla.paused) {
    const left = sla.remaining_seconds;
    state = left < 0 ? "breached" : "paused";
    text = left < 0 ? `Paused, breached by ${span(left)}` : `Paused: ${span(left)} left`;
  } else {
    const left = (Date.parse(sla.due_at) - now) / 1000;
    if (left <= 0 || sla.breached) { state = "breached"; text = `Breached ${span(left)} ago`; }
    else if (sla.warn_at && Date.parse(sla.warn_at) <= now) { state = "warn"; text = `Due soon: ${span(left)} left`; }
    else { state = "ok"; text = `${span(left)} left`; }
  }
  chip.className = `sla-chip sla-${state}`;
  chip.dataset.state = state;
  chip.textContent = text;
  chip.title = `${label} target${sla.due_at ? `, due ${new Date(sla.due_at).toLocaleString()}` : ""}`;
  chip.setAttribute("aria-label", `${label}: ${text}`);
}

export function slaChip(summary) {
  if (!summary.sla) return null;
  const chip = document.createElement("span");
  chip.dataset.sla = JSON.stringify(summary.sla);
  paint(chip);
  return chip;
}

setInterval(() => {
  const now = Date.now();
  for (const chip of document.querySelectorAll(".sla-chip[data-sla]")) paint(chip, now);
}, 1000);

// The conversation head: the same chip beside the name.
function renderHead() {
  const title = document.getElementById("pane-title");
  if (!title) return;
  document.getElementById("pane-sla")?.remove();
  const c = selected();
  const chip = c && slaChip(c);
  if (!chip) return;
  chip.id = "pane-sla";
  title.after(chip);
}
on("pane", renderHead);
