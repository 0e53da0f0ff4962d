/* A list above the composer completing what follows a trigger character ("/" for canned responses, "@" for
 * agents): arrows choose, Enter or Tab or a click puts the chosen text in place of the trigger and the letters
 * typed after it. Entries are built as text. */
import { node } from "./inbox_core.js";

/* `trigger` matches the text before the caret, the letters typed in its group 2; `find(letters)` answers (or
 * promises) the entries; `option(entry)` the nodes or texts of its line; `replacement(entry)` the text written. */
export function installPicker(textarea, menu, { trigger, idPrefix, find, option, replacement }) {
  let items = [];
  let chosen = 0;
  let asked = 0;

  /* Also drops the answers still on their way: one arriving after a pick would open the list again, and the next
   * Enter would choose from it instead of sending. */
  const close = () => {
    asked += 1;
    items = [];
    menu.hidden = true;
    menu.replaceChildren();
  };

  const pick = (item) => {
    const before = textarea.value.slice(0, textarea.selectionStart);
    const match = trigger.exec(before);
    if (!match) return close();
    const start = before.length - match[2].length - 1;
    const written = replacement(item);
    textarea.value = textarea.value.slice(0, start) + written + textarea.value.slice(textarea.selectionStart);
    textarea.setSelectionRange(start + written.length, start + written.length);
    close();
    textarea.dispatchEvent(new Event("input"));
  };

  const render = () => {
    menu.replaceChildren(...items.map((item, index) => {
      const line = node("li", "canned-option");
      line.id = `${idPrefix}-${index}`;
      line.setAttribute("role", "option");
      line.setAttribute("aria-selected", String(index === chosen));
      line.append(...option(item));
      line.addEventListener("mousedown", (event) => {
        event.preventDefault();
        pick(item);
      });
      return line;
    }));
    menu.hidden = items.length === 0;
    textarea.setAttribute("aria-activedescendant", items.length ? `${idPrefix}-${chosen}` : "");
  };

  textarea.addEventListener("input", async () => {
    const match = trigger.exec(textarea.value.slice(0, textarea.selectionStart));
    if (!match) return close();
    const ask = ++asked;
    const found = await find(match[2]);
    if (ask !== asked) return;
    items = found;
    chosen = 0;
    render();
  });
  textarea.addEventListener("blur", close);
  /* Runs before the composer's own Enter handler (installed later) and keeps the key while the list is open. */
  textarea.addEventListener("keydown", (event) => {
    if (menu.hidden || !items.length) return;
    const moves = { ArrowDown: 1, ArrowUp: -1 };
    if (event.key in moves) {
      chosen = (chosen + moves[event.key] + items.length) % items.length;
      render();
    } else if (event.key === "Enter" || event.key === "Tab") {
      pick(items[chosen]);
    } else if (event.key === "Escape") {
      close();
    } else {
      return;
    }
    event.preventDefault();
    event.stopImmediatePropagation();
  });
}
