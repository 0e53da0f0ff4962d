/* @mentions in notes: typing "@" and a few letters in the composer lists the workspace's agents whose name starts
 * with them, and choosing one writes "@Name ". A note naming an agent so marks its conversation for them (kept in
 * the server, so it reaches them at their next sign-in too) and alerts them as a customer's message would. */
import { api } from "./inbox_core.js";
import { installPicker } from "./inbox_picker.js";

/* The ids of the conversations with a note naming the signed-in agent that they have not opened since. */
export async function unreadMentions() {
  const page = await api("/api/v1/me/mentions?unread=true&limit=100");
  return page.items.map((mention) => mention.conversation_id);
}

/* The agent saw the conversation: its mentions of them are read, for this inbox and the next sign-in. */
export function readMentions(conversationId) {
  return api("/api/v1/me/mentions/read", { method: "POST", json: { conversation_id: conversationId } });
}

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
