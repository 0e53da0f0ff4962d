/* "Customer is typing…" above the composer of the open conversation. The hub relays a web chat visitor's typing
 * as conversation.customer_typing at most every few seconds while they type, and never says they stopped: the
 * line shows for a little longer than that gap, and goes at once when their message arrives or another
 * conversation opens. */
import { byId, node, t } from "./inbox_core.js";

const SHOWN_MS = 6000;

let hideTimer = 0;

function typingLine() {
  let line = byId("customer-typing");
  if (!line) {
    line = node("p", "muted customer-typing", t("Customer is typing…"));
    line.id = "customer-typing";
    line.setAttribute("role", "status");
    line.hidden = true;
    byId("composer").before(line);
  }
  return line;
}

export function hideCustomerTyping() {
  clearTimeout(hideTimer);
  typingLine().hidden = true;
}

/* Every agent socket frame passes here with the open conversation's id. */
export function trackCustomerTyping(frame, openConversationId) {
  if (frame.type === "conversation.customer_typing" && frame.conversation_id === openConversationId) {
    clearTimeout(hideTimer);
    typingLine().hidden = false;
    hideTimer = setTimeout(hideCustomerTyping, SHOWN_MS);
  } else if (frame.type === "message.created" && frame.message?.direction === "in" &&
             frame.message.conversation_id === openConversationId) {
    hideCustomerTyping();
  }
}
