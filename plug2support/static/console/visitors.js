// Refresh the "on your sites now" table every 10 s, unless someone is typing a message in it.
const table = document.getElementById("visitors-table");
async function refresh() {
  if (table.contains(document.activeElement) && document.activeElement.value) return;
  try {
    const response = await fetch("?partial=1", { credentials: "same-origin" });
    if (response.ok) table.innerHTML = await response.text(); // our own escaped template
  } catch { /* offline for a moment: try again next time */ }
}
setInterval(refresh, 10000);
