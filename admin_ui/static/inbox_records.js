/* The inbox's record pages, each at its own address: the tickets list with filters and an SLA due column
 * (/inbox/tickets), one ticket with its comments (/inbox/tickets/<id>) and one customer (/inbox/contacts/<id>). */
import { api, button, factList, formatTime, linkedText, node, path, t } from "./inbox_core.js";
import { showCustomer } from "./inbox_customer.js";

export const RECORD_PATHS = [
  [/^\/inbox\/tickets\/?$/, (container, context) => showTickets(container, context)],
  [/^\/inbox\/tickets\/([^/]+)$/, (container, context, id) => showTicket(container, context, id)],
  [/^\/inbox\/contacts\/([^/]+)$/, (container, context, id) => showContact(container, id)],
];

const TICKET_STATUSES = ["new", "open", "pending", "solved", "closed"];
const PRIORITIES = ["low", "normal", "high", "urgent"];

function link(text, href) {
  const anchor = node("a", null, text);
  anchor.href = href;
  return anchor;
}

function select(label, options, value, onChange) {
  const wrapper = node("label", "field", t(label));
  const element = node("select");
  options.forEach(([optionValue, text]) => {
    const option = node("option", null, text);
    option.value = optionValue;
    element.append(option);
  });
  element.value = value;
  element.addEventListener("change", () => onChange(element.value));
  wrapper.append(element);
  return wrapper;
}

/* The next SLA target a ticket must meet: the first response until it was given, then the resolution. */
function slaDue(ticket) {
  const sla = ticket.sla || {};
  if (["solved", "closed"].includes(ticket.status)) return { text: t("met"), late: false };
  const due = sla.first_responded_at ? sla.resolution_due_at : sla.first_response_due_at || sla.resolution_due_at;
  if (!due) return { text: t("no SLA"), late: false };
  const breached = sla.first_response_breached_at || sla.resolution_breached_at || new Date(due) < new Date();
  return { text: `${breached ? `${t("overdue")} · ` : ""}${formatTime(due)}`, late: Boolean(breached), due };
}

async function showTickets(container, { agents, me }) {
  const filters = { status: "new,open,pending", priority: "", assignee_id: "" };
  const table = node("table", "records-table");
  const more = node("button", null, t("Load more"));
  more.type = "button";
  let cursor = null;

  const load = async (append) => {
    const query = new URLSearchParams({ limit: "50" });
    Object.entries(filters).forEach(([key, value]) => value && query.set(key, value));
    if (append && cursor) query.set("cursor", cursor);
    const page = await api(`/api/v1/tickets?${query}`);
    cursor = page.next_cursor;
    more.hidden = !cursor;
    const rows = page.items.map((ticket) => {
      const row = node("tr");
      const due = slaDue(ticket);
      const subject = node("td");
      subject.append(link(ticket.subject, path`/inbox/tickets/${ticket.id}`));
      const dueCell = node("td", due.late ? "late" : null, due.text);
      row.append(subject, node("td", `status status-${ticket.status}`, t(`status:${ticket.status}`)),
                 node("td", null, t(`priority:${ticket.priority}`)),
                 node("td", null, ticket.assignee_id ? agents.get(ticket.assignee_id)?.name || t("an agent") : t("unassigned")),
                 dueCell, node("td", null, formatTime(ticket.created_at)));
      return row;
    });
    const body = append ? table.tBodies[0] : node("tbody");
    body.append(...rows);
    if (!append) {
      const head = node("thead");
      const headings = node("tr");
      ["Subject", "Status", "Priority", "Assignee", "SLA due", "Created"].forEach((title) => headings.append(node("th", null, t(title))));
      head.append(headings);
      table.replaceChildren(head, body);
    }
  };
  const change = (key) => (value) => {
    filters[key] = value;
    load(false);
  };
  const bar = node("div", "records-filters");
  bar.append(
    select("Status", [["new,open,pending", t("Unsolved")], ...TICKET_STATUSES.map((status) => [status, t(`status:${status}`)]), ["", t("Any")]],
           filters.status, change("status")),
    select("Priority", [["", t("Any")], ...PRIORITIES.map((priority) => [priority, t(`priority:${priority}`)])], "", change("priority")),
    select("Assignee", [["", t("Anyone")], [me, t("Me")], ["none", t("Unassigned")]], "", change("assignee_id")),
  );
  more.addEventListener("click", () => load(true));
  const wrapper = node("div", "table-scroll");
  wrapper.append(table);
  container.replaceChildren(node("h1", null, t("Tickets")), bar, wrapper, more);
  await load(false);
}

async function showTicket(container, { agents }, ticketId) {
  const ticket = await api(path`/api/v1/tickets/${ticketId}`);
  const status = node("p", "muted");
  status.setAttribute("role", "status");
  const update = async (change) => {
    try {
      await api(path`/api/v1/tickets/${ticketId}`, { method: "PATCH", json: change });
      await showTicket(container, { agents }, ticketId);
    } catch (failure) {
      status.textContent = failure.message;
    }
  };
  const due = slaDue(ticket);
  const facts = factList([
    ["SLA due", due.text],
    ["First response due", formatTime(ticket.sla?.first_response_due_at) || t("none")],
    ["Resolution due", formatTime(ticket.sla?.resolution_due_at) || t("none")],
    ["Source", ticket.source || ""],
    ["Created", formatTime(ticket.created_at)],
  ].map(([term, value]) => [t(term), value]));
  const controls = node("div", "records-filters");
  controls.append(
    select("Status", TICKET_STATUSES.map((each) => [each, t(`status:${each}`)]), ticket.status, (value) => update({ status: value })),
    select("Priority", PRIORITIES.map((each) => [each, t(`priority:${each}`)]), ticket.priority, (value) => update({ priority: value })),
    select("Assignee", [["", t("unassigned")], ...[...agents.values()].map((agent) => [agent.id, agent.name])],
           ticket.assignee_id || "", (value) => update({ assignee_id: value || null })),
  );
  const links = node("p", "record-links");
  if (ticket.conversation_id) links.append(link(t("Open the conversation"), path`/inbox/conversations/${ticket.conversation_id}`), " ");
  if (ticket.contact_id) links.append(link(t("The customer"), path`/inbox/contacts/${ticket.contact_id}`));
  const description = linkedText("p", "message-text", ticket.description || "");
  container.replaceChildren(link(t("← Tickets"), "/inbox/tickets"), node("h1", null, ticket.subject), controls, status,
                            links, description, facts, await comments(ticket, agents));
}

async function comments(ticket, agents) {
  const section = node("section", "comments");
  const list = node("ol", "messages");
  const page = await api(path`/api/v1/tickets/${ticket.id}/comments?limit=100`);
  page.items.forEach((comment) => {
    const item = node("li", `message ${comment.public ? "message-out" : "message-note"}`);
    const meta = node("div", "message-meta");
    meta.append(node("span", null, `${t(comment.public ? "Reply" : "Internal")} · ${agents.get(comment.author_id)?.name || "API"}`),
                node("time", null, formatTime(comment.created_at)));
    item.append(meta, linkedText("div", "message-text", comment.body));
    list.append(item);
  });
  const form = node("form", "stack");
  const body = node("textarea");
  body.rows = 3;
  body.required = true;
  body.setAttribute("aria-label", t("Comment"));
  const visible = node("label", "inline");
  const publicBox = node("input");
  publicBox.type = "checkbox";
  publicBox.disabled = !ticket.conversation_id;
  visible.append(publicBox, ` ${t("Send to the customer")}`);
  const error = node("p", "error");
  const submit = node("button", "primary", t("Add comment"));
  submit.type = "submit";
  form.append(body, visible, error, submit);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api(path`/api/v1/tickets/${ticket.id}/comments`, { method: "POST", json: { body: body.value, public: publicBox.checked } });
      section.replaceWith(await comments(ticket, agents));
    } catch (failure) {
      error.textContent = failure.message;
    }
  });
  section.append(node("h2", null, t("Comments")), list, form);
  return section;
}

async function showContact(container, contactId) {
  const panel = node("div", "customer-panel");
  container.replaceChildren(button(t("← Back"), () => history.back()), panel);
  await showCustomer(panel, contactId, {
    openConversation: (id) => { location.href = path`/inbox/conversations/${id}`; }, currentId: null,
  });
}
