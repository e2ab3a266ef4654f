// The offline page (push/webapp.py): back to the page that could not be reached as soon as
// the browser says the network is back, or when the person asks.
const status = document.getElementById("offline-status");

function retry() {
  status.textContent = "Reconnecting…";
  location.reload();
}

window.addEventListener("online", retry);
document.getElementById("offline-retry").addEventListener("click", retry);
