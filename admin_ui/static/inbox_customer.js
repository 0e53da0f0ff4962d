/* The customer panel: who the customer is on every channel (verified identities marked), their attributes,
 * VIP level and tags, their other conversations and tickets, and merge suggestions with merge and undo. */
import { api, button, factList, formatTime, node, path, t } from "./inbox_core.js";

export async function showCustomer(container, contactId, { openConversation, currentId }) {
  container.replaceChildren(node("p", "muted", t("Loading customer…")));
  let contact;
  try {
    contact = await api(path`/api/v1/contacts/${contactId}`);
  } catch (failure) {
    container.replaceChildren(node("p", "error", failure.message));
    return;
  }
  const refresh = () => showCustomer(container, contactId, { openConversation, currentId });
  const heading = node("h3", "customer-name", contact.name || t("Unnamed customer"));
  if (contact.vip_level > 0) heading.append(" ", node("span", "vip", t("VIP {level}", { level: contact.vip_level })));
  const parts = [heading, link(t("Customer page"), path`/inbox/contacts/${contact.id}`)];
  if (contact.tags.length) {
    const tags = node("ul", "tags");
    contact.tags.forEach((tag) => tags.append(node("li", "tag", tag)));
    parts.push(tags);
  }
  const identities = node("ul", "identities");
  contact.identities.forEach((identity) => {
    const item = node("li", null, `${identity.kind}: ${identity.value}`);
    item.append(" ", identity.verified ? node("span", "verified", t("✓ verified")) : node("span", "muted", t("unverified")));
    identities.append(item);
  });
  parts.push(section(t("Identities"), identities));
  const attributes = Object.entries(contact.attributes || {}).map(([key, value]) => [key, String(value)]);
  if (attributes.length) parts.push(section(t("Attributes"), factList(attributes)));
  if (contact.recent_pages.length) parts.push(section(t("Pages viewed"), pageList(contact)));
  const others = contact.conversations.items.filter((conversation) => conversation.id !== currentId);
  if (others.length) {
    const list = node("ul", "linked");
    others.forEach((conversation) => {
      const item = node("li");
      item.append(button(`${t(`status:${conversation.status}`)} · ${formatTime(conversation.last_message_at)}`,
                         () => openConversation(conversation.id), "link"));
      list.append(item);
    });
    parts.push(section(t("Other conversations"), list));
  }
  if (contact.tickets.items.length) {
    const list = node("ul", "linked");
    contact.tickets.items.forEach((ticket) => {
      const item = node("li");
      item.append(link(ticket.subject, path`/inbox/tickets/${ticket.id}`), ` · ${t(`status:${ticket.status}`)}`);
      list.append(item);
    });
    parts.push(section(t("Tickets"), list));
  }
  if (contact.merge_suggestions.length) {
    const list = node("ul", "suggestions");
    contact.merge_suggestions.forEach((suggestion) => list.append(mergeSuggestion(contact, suggestion, refresh)));
    parts.push(section(t("Possibly the same customer"), list));
  }
  container.replaceChildren(...parts);
}

/* The page the visitor is on now first, then the ones before it: titles as text, addresses as plain text too
 * (a visitor's page address is not a link an agent should follow blindly). */
function pageList(contact) {
  const list = node("ol", "pages");
  contact.recent_pages.forEach((page, index) => {
    const item = node("li", index === 0 ? "page current" : "page");
    item.append(node("span", "page-title", page.title || page.url));
    if (index === 0) item.append(" ", node("span", "now", t("now")));
    item.append(node("span", "page-url muted", page.url), node("span", "muted", ` · ${formatTime(page.viewed_at)}`));
    list.append(item);
  });
  return list;
}

function link(text, href) {
  const anchor = node("a", null, text);
  anchor.href = href;
  return anchor;
}

function section(title, content) {
  const element = node("section", "customer-section");
  element.append(node("h4", null, title), content);
  return element;
}

/* A suggestion is shown on both of its contacts; either way the other one merges into the contact shown. */
function mergeSuggestion(contact, suggestion, refresh) {
  const item = node("li", null, `${suggestion.kind}: ${suggestion.value}`);
  const status = node("span", "merge-status");
  const other = suggestion.candidate_id === contact.id ? suggestion.contact_id : suggestion.candidate_id;
  item.append(" ", button(t("Merge"), async () => {
    try {
      const merged = await api(path`/api/v1/contacts/${contact.id}/merge`,
                               { method: "POST", json: { contact_id: other } });
      status.replaceChildren(node("span", null, `${t("Merged.")} `), button(t("Undo"), async () => {
        await api(path`/api/v1/contacts/merges/${merged.audit_id}/undo`, { method: "POST" });
        refresh();
      }));
    } catch (failure) {
      status.textContent = failure.message;
    }
  }), " ", status);
  return item;
}
