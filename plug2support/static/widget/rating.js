// K2: the rating question a resolution puts in the thread (a `rating_asked` event) and the
// visitor's answer (a `rating` event, "You rated …"). Every word is in TEXT, for the
// translations of issue 23; the faces match satisfaction/texts.py.
import { newId } from "./live.js";

export const TEXT = {
  faces: ["Very bad", "Bad", "OK", "Good", "Very good"],
  scoreLabel: (score, label) => `${score} of 5: ${label}`,
  commentLabel: "Anything you want to add? (optional)",
  send: "Send",
  sending: "Sending…",
  notSent: "Not sent — please try again.",
  pick: "Choose a face first.",
  youRated: (score, label) => `You rated this conversation ${score} of 5 (${label}).`,
  thanks: "Thank you!",
};
const FACES = ["😞", "😕", "😐", "😊", "😄"];
const COMMENT_MAX = 1000;

// The cards survive the thread's re-renders (a live message must not wipe a half-typed
// comment): one element per question, kept by its seq.
export function ratingThread(request) {
  const cards = new Map();

  function question(event) {
    let card = cards.get(`${event.conversation}:${event.seq}`);
    if (card) return card;
    card = document.createElement("li");
    card.className = "rating";
    const form = document.createElement("form");
    const group = document.createElement("div");
    group.className = "faces";
    group.setAttribute("role", "radiogroup");
    const qid = `rating-q-${event.seq}`;
    const q = document.createElement("p");
    q.className = "rating-question";
    q.id = qid;
    q.textContent = event.body;
    group.setAttribute("aria-labelledby", qid);
    let chosen = null;
    const buttons = FACES.map((face, i) => {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "face";
      b.textContent = face;
      b.setAttribute("role", "radio");
      b.setAttribute("aria-checked", "false");
      b.setAttribute("aria-label", TEXT.scoreLabel(i + 1, TEXT.faces[i]));
      b.title = TEXT.faces[i];
      b.tabIndex = i === 0 ? 0 : -1;
      b.addEventListener("click", () => pick(i));
      b.addEventListener("keydown", (e) => {
        // A radio group's keys: the arrows move the choice, focus follows.
        const step = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 }[e.key];
        if (step) { e.preventDefault(); pick((i + step + FACES.length) % FACES.length, true); }
      });
      return b;
    });
    function pick(i, focus = false) {
      chosen = i + 1;
      buttons.forEach((b, j) => {
        b.setAttribute("aria-checked", String(j === i));
        b.tabIndex = j === i ? 0 : -1;
      });
      if (focus) buttons[i].focus();
      comment.hidden = false;
      label.hidden = false;
      send.hidden = false;
    }
    group.append(...buttons);
    const label = document.createElement("label");
    label.textContent = TEXT.commentLabel;
    label.htmlFor = `rating-c-${event.seq}`;
    label.hidden = true;
    const comment = document.createElement("textarea");
    comment.id = `rating-c-${event.seq}`;
    comment.rows = 2;
    comment.maxLength = COMMENT_MAX;
    comment.hidden = true;
    const send = document.createElement("button");
    send.type = "submit";
    send.className = "rating-send";
    send.textContent = TEXT.send;
    send.hidden = true;
    const status = document.createElement("p");
    status.className = "rating-status";
    status.setAttribute("role", "status");
    const clientId = newId(); // the same on every resend: stored once
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      if (!chosen) { status.textContent = TEXT.pick; return; }
      send.disabled = true;
      status.textContent = TEXT.sending;
      try {
        const reply = await request({ type: "rate", conversation: event.conversation,
                                      asked: event.seq, score: chosen,
                                      comment: comment.value.trim(), client_id: clientId });
        status.textContent = reply.type === "error" ? reply.message : TEXT.thanks;
        if (reply.type === "error" && reply.code !== "already_rated") send.disabled = false;
      } catch {
        status.textContent = TEXT.notSent;
        send.disabled = false;
      }
    });
    form.append(q, group, label, comment, send, status);
    card.append(form);
    cards.set(`${event.conversation}:${event.seq}`, card);
    return card;
  }

  // The thread's item for a rating event, or null for another kind. `answered` holds the
  // seqs of the questions the thread already has an answer to.
  return function ratingItem(event, answered) {
    if (event.kind === "rating_asked") {
      if (!answered.has(event.seq)) return question(event);
      return null; // its answer says it all
    }
    if (event.kind === "rating") {
      const li = document.createElement("li");
      li.className = "system rated";
      const score = event.details && event.details.score;
      li.textContent = score ? `${FACES[score - 1]} ${TEXT.youRated(score, TEXT.faces[score - 1])}` : event.body;
      if (event.details && event.details.comment) {
        const c = document.createElement("q");
        c.textContent = event.details.comment;
        li.append(document.createElement("br"), c);
      }
      return li;
    }
    return undefined;
  };
}
