// M11: the console's service worker (/sw.js, push/webapp.py): the offline page, the cached
// static shell and Web Push. Registered from every signed-in page; a browser without
// service workers simply has none of the three.
if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch((error) => {
    console.warn("The service worker could not be registered:", error);
  });
}

// Logging out ends push on this browser first: the next person at a shared computer must
// not see this member's alerts on its screen. The subscription is removed on the server and
// in the browser (its endpoint then dies for every account that used it); at most a few
// seconds, and logging out goes on whatever happens.
const logout = document.querySelector('form[action="/accounts/logout/"]');

async function forgetPush(form) {
  const registration = await navigator.serviceWorker.getRegistration("/");
  const subscription = registration && registration.pushManager
    ? await registration.pushManager.getSubscription() : null;
  if (!subscription) return;
  const token = form.querySelector("[name=csrfmiddlewaretoken]").value;
  await fetch("/console/push/subscription", {
    method: "DELETE", credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": token },
    body: JSON.stringify({ endpoint: subscription.endpoint }),
  }).catch(() => {});
  await subscription.unsubscribe();
}

if (logout && "serviceWorker" in navigator) {
  logout.addEventListener("submit", (event) => {
    event.preventDefault();
    const deadline = new Promise((resolve) => { setTimeout(resolve, 3000); });
    Promise.race([forgetPush(logout), deadline]).catch(() => {}).finally(() => logout.submit());
  });
}
