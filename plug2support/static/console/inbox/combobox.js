// An autocomplete popover (WAI-ARIA combobox with a listbox popup, APG "list autocomplete"):
// focus stays in the text field, arrows move the active option (announced through
// aria-activedescendant), Enter or Tab chooses it, Escape closes, a click chooses too.
// Used by the composer's suggestions (`/`, `:`, `@`) and the emoji picker's grid
// (`columns`: Up/Down move a row, Left/Right an option).
let made = 0;

export class Combobox {
  constructor(input, listbox, { onChoose, onDismiss = () => {}, columns = 1, label = "Suggestions" }) {
    Object.assign(this, { input, listbox, onChoose, onDismiss, columns, items: [], active: -1 });
    this.expands = input.tagName === "INPUT"; // aria-expanded belongs to the combobox role
    listbox.id ||= `combobox-${++made}`;
    listbox.setAttribute("role", "listbox");
    listbox.setAttribute("aria-label", label);
    listbox.hidden = true;
    // A long list scrolls (axe: a scrolling region is focusable); it is open only while the
    // input has the focus, and Tab there chooses, so it is never tabbed to.
    listbox.tabIndex = 0;
    // A text area keeps its textbox role (a combobox may not be multi-line): it says it
    // controls a listbox popup, and which option is active.
    if (this.expands) {
      input.setAttribute("role", "combobox");
      input.setAttribute("aria-expanded", "false");
    } else input.setAttribute("aria-haspopup", "listbox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-controls", listbox.id);
    listbox.addEventListener("mousedown", (event) => event.preventDefault()); // keeps the focus
    listbox.addEventListener("click", (event) => {
      const option = event.target.closest("[role=option]");
      if (option) this.choose(Number(option.dataset.index));
    });
  }

  get isOpen() { return !this.listbox.hidden; }

  // Shows `items`, each drawn by `render(item)` (a node or a string); none closes it.
  show(items, render) {
    this.items = items;
    if (!items.length) { this.close(); return; }
    this.listbox.replaceChildren(...items.map((item, i) => {
      const option = document.createElement("li");
      option.id = `${this.listbox.id}-${i}`;
      option.dataset.index = String(i);
      option.setAttribute("role", "option");
      option.setAttribute("aria-selected", "false");
      option.append(render(item));
      return option;
    }));
    this.listbox.hidden = false;
    if (this.expands) this.input.setAttribute("aria-expanded", "true");
    this.setActive(0);
  }

  close() {
    if (!this.isOpen && !this.items.length) return;
    this.items = [];
    this.active = -1;
    this.listbox.hidden = true;
    this.listbox.replaceChildren();
    if (this.expands) this.input.setAttribute("aria-expanded", "false");
    this.input.removeAttribute("aria-activedescendant");
  }

  setActive(i) {
    const options = this.listbox.children;
    if (options[this.active]) options[this.active].setAttribute("aria-selected", "false");
    this.active = i;
    const option = options[i];
    if (!option) { this.input.removeAttribute("aria-activedescendant"); return; }
    option.setAttribute("aria-selected", "true");
    this.input.setAttribute("aria-activedescendant", option.id);
    option.scrollIntoView({ block: "nearest" });
  }

  move(delta) {
    const n = this.items.length;
    this.setActive(((this.active < 0 ? 0 : this.active + delta) % n + n) % n);
  }

  choose(i) {
    const item = this.items[i];
    if (item === undefined) return;
    this.close();
    this.onChoose(item);
  }

  // The keys it takes while open; true when it took this one (the caller then does nothing).
  handleKey(event) {
    if (!this.isOpen || event.isComposing || event.altKey || event.ctrlKey || event.metaKey) return false;
    const grid = this.columns > 1;
    const step = { ArrowDown: this.columns, ArrowUp: -this.columns,
                   ArrowRight: grid ? 1 : 0, ArrowLeft: grid ? -1 : 0 }[event.key];
    if (step) this.move(step);
    else if ((event.key === "Enter" || event.key === "Tab") && !event.shiftKey) {
      if (this.active < 0) return false;
      this.choose(this.active);
    } else if (event.key === "Escape") {
      this.close();
      this.onDismiss();
    } else return false;
    event.preventDefault();
    return true;
  }
}
