/* Keyboard shortcuts and the overlay that lists them (? opens it). Keys typed into a field are left alone. */
import { byId, node, t } from "./inbox_core.js";

export const SHORTCUTS = [
  ["j", "Next conversation"],
  ["k", "Previous conversation"],
  ["r", "Reply (focus the composer)"],
  ["e", "Resolve"],
  ["?", "Show this help"],
  ["Esc", "Close this help / leave the composer"],
];

export function installShortcuts(actions) {
  const overlay = byId("help");
  const list = byId("shortcut-list");
  list.replaceChildren(...SHORTCUTS.flatMap(([key, meaning]) => [node("dt", null, key), node("dd", null, t(meaning))]));
  const toggleHelp = (open) => {
    overlay.hidden = !open;
    if (open) byId("help-close").focus();
  };
  byId("help-button").addEventListener("click", () => toggleHelp(true));
  byId("help-close").addEventListener("click", () => toggleHelp(false));
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      if (!overlay.hidden) toggleHelp(false);
      else if (event.target instanceof HTMLElement) event.target.blur();
      return;
    }
    const target = event.target;
    const typing = target instanceof HTMLElement && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
    if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
    const action = { j: actions.next, k: actions.previous, r: actions.reply, e: actions.resolve, "?": () => toggleHelp(true) }[event.key];
    if (action) {
      event.preventDefault();
      action();
    }
  });
}
