/* @mentions in notes: typing "@" and a few letters in the composer lists the workspace's agents whose name starts
 * with them, and choosing one writes "@Name ". A note naming an agent so marks its conversation for them (kept in
 * the browser across reloads) and alerts them as a customer's message would. */
import { installPicker } from "./inbox_picker.js";

/* Whether `text` names the agent as "@Their Name" (any case), followed by neither a letter nor a digit. */
export function mentions(text, name) {
  if (!name) return false;
  const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp(`(^|\\s)@${escaped}(?![\\p{L}\\p{N}])`, "iu").test(text || "");
}

/* `agents()` answers the agents to offer, each {id, name}. */
export function installMentions(textarea, menu, agents) {
  installPicker(textarea, menu, {
    trigger: /(^|\s)@([^\s@]*)$/,
    idPrefix: "mention",
    find: (typed) => agents()
      .filter((agent) => agent.name.toLocaleLowerCase().startsWith(typed.toLocaleLowerCase()))
      .slice(0, 8),
    option: (agent) => [`@${agent.name}`],
    replacement: (agent) => `@${agent.name} `,
  });
}
