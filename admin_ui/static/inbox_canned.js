/* Canned responses in the composer: typing "/" and a few letters lists the workspace's responses whose short
 * code starts with them (or whose text holds them); arrows choose, Enter or Tab or a click puts the text in place
 * of "/code". Responses are plain text and shown as text. */
import { api, node } from "./inbox_core.js";

const TRIGGER = /(^|\s)\/([^\s/]*)$/;

export function installCanned(textarea, menu) {
  let items = [];
  let chosen = 0;
  let asked = 0;

  const close = () => {
    items = [];
    menu.hidden = true;
    menu.replaceChildren();
  };

  const pick = (item) => {
    const before = textarea.value.slice(0, textarea.selectionStart);
    const match = TRIGGER.exec(before);
    if (!match) return close();
    const start = before.length - match[2].length - 1;
    textarea.value = textarea.value.slice(0, start) + item.content + textarea.value.slice(textarea.selectionStart);
    const caret = start + item.content.length;
    textarea.setSelectionRange(caret, caret);
    close();
    textarea.dispatchEvent(new Event("input"));
  };

  const render = () => {
    menu.replaceChildren(...items.map((item, index) => {
      const option = node("li", "canned-option");
      option.id = `canned-${index}`;
      option.setAttribute("role", "option");
      option.setAttribute("aria-selected", String(index === chosen));
      option.append(node("strong", null, `/${item.short_code}`), " ", node("span", "muted", item.content));
      option.addEventListener("mousedown", (event) => {
        event.preventDefault();
        pick(item);
      });
      return option;
    }));
    menu.hidden = items.length === 0;
    textarea.setAttribute("aria-activedescendant", items.length ? `canned-${chosen}` : "");
  };

  textarea.addEventListener("input", async () => {
    const match = TRIGGER.exec(textarea.value.slice(0, textarea.selectionStart));
    if (!match) return close();
    const ask = ++asked;
    const query = new URLSearchParams({ limit: "8" });
    if (match[2]) query.set("q", match[2]);
    const page = await api(`/api/v1/canned_responses?${query}`).catch(() => ({ items: [] }));
    if (ask !== asked) return;
    items = page.items;
    chosen = 0;
    render();
  });
  textarea.addEventListener("blur", close);
  /* Runs before the composer's own Enter handler (installed later) and keeps the key while the menu is open. */
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
