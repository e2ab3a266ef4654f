// A form with `data-confirm` (its question) asks before it is sent: a modal <dialog> with
// the question, what follows (`data-confirm-detail`), the action's own words
// (`data-confirm-action`) and Cancel, which has the focus so Enter does no harm. Escape and
// Cancel keep the form unsent; the focus goes back to the button that asked. A script file,
// not inline: the console's CSP allows only 'self' scripts.
const dialog = document.createElement("dialog");
dialog.className = "confirm-dialog";
dialog.setAttribute("aria-labelledby", "confirm-question");
dialog.setAttribute("aria-describedby", "confirm-detail");
const question = Object.assign(document.createElement("h2"), { id: "confirm-question" });
const detail = Object.assign(document.createElement("p"), { id: "confirm-detail", className: "muted" });
const yes = Object.assign(document.createElement("button"), { type: "button", className: "button danger" });
const no = Object.assign(document.createElement("button"), { type: "button", className: "button secondary", textContent: "Cancel" });
const actions = Object.assign(document.createElement("div"), { className: "confirm-actions" });
actions.append(no, yes);
dialog.append(question, detail, actions);
document.body.append(dialog);

let pending = null; // { form, opener }

function ask(form, opener) {
  pending = { form, opener };
  question.textContent = form.dataset.confirm;
  detail.textContent = form.dataset.confirmDetail || "";
  detail.hidden = !form.dataset.confirmDetail;
  yes.textContent = form.dataset.confirmAction || "Confirm";
  dialog.showModal();
  no.focus();
}

no.addEventListener("click", () => dialog.close("cancel"));
yes.addEventListener("click", () => dialog.close("confirm"));
dialog.addEventListener("close", () => {
  const asked = pending;
  pending = null;
  if (!asked) return;
  if (dialog.returnValue === "confirm") {
    asked.form.dataset.confirmed = "yes";
    asked.form.requestSubmit();
  } else if (asked.opener) {
    asked.opener.focus();
  }
  dialog.returnValue = "";
});

for (const form of document.querySelectorAll("form[data-confirm]")) {
  form.addEventListener("submit", (event) => {
    if (form.dataset.confirmed === "yes") return;
    event.preventDefault();
    ask(form, event.submitter || form.querySelector("button[type=submit]"));
  });
}
