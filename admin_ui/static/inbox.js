/* Omnihub agent inbox: vanilla ES modules over the REST API (/api/v1) and the agent WebSocket.
 *
 * Signing in sets the session cookie (HttpOnly: this script never sees the token), so the session
 * survives reloads and new tabs. Every change carries the session's CSRF token in the X-CSRF-Token
 * header (and the socket's first frame), which another site's page can neither read nor compute.
 * Each conversation has its own address, /inbox/conversations/<id>.
 * Everything customers or agents typed is rendered with textContent, never as markup. */
import { ApiError, api, auth, button, byId, formatTime, linkedText, node, path, t } from "./inbox_core.js";
import { alertAgent, installAlerts } from "./inbox_alerts.js";
import { installCanned } from "./inbox_canned.js";
import { installMentions, mentions, readMentions, unreadMentions } from "./inbox_mentions.js";
import { showCustomer } from "./inbox_customer.js";
import { installShortcuts } from "./inbox_keys.js";
import { RECORD_PATHS } from "./inbox_records.js";
import { smsSegments } from "./sms_segments.js";
import { hideCustomerTyping, trackCustomerTyping } from "./inbox_typing.js";

const CONVERSATION_PATH = /^\/inbox\/conversations\/([^/]+)$/;
const PAGE_SIZE = 50;
const MESSAGE_PAGE = 500;
const MAX_RECONNECT_MS = 30000;
const SENDER_LABELS = { contact: "Customer", bot: "Bot", system: "sender:system" }; /* keys of the catalogue */
const TYPING_REPEAT_MS = 5000; /* channels drop a typing indicator after a few seconds unless it is renewed */
const PAGE_TITLE = document.title;
const SESSION_ENDED = "Your session has ended; please sign in again.";

const state = {
  inboxes: new Map(),
  agents: new Map(),
  teams: new Map(),
  tab: "all",
  conversations: new Map(), /* id -> conversation shown in the list */
  summaries: new Map(),     /* id -> {contact_name, last_message} */
  nextCursor: null,
  searching: false,
  listLoads: 0,             /* counts list loads from the top: only the latest fills the list */
  changedWhileLoading: null, /* id -> conversation changed live while the latest of them was on its way */
  selected: null,           /* the open conversation, with channel, identity and reply_window */
  messages: new Map(),      /* id -> {data, element} of the open conversation */
  unread: {},               /* id -> count of customer messages not yet seen, kept per agent in localStorage */
  mentioned: new Set(),     /* ids of conversations with a note naming this agent not yet opened, kept by the server */
  socket: null,
  reconnectMs: 1000,
  reconnectTimer: 0,
  everConnected: false,     /* a later "ready" is a reconnect: fetch what was missed */
  typingSentAt: 0,
  pendingAttachments: [],   /* uploaded files waiting to go out with the next reply: {kind, url, name, mime_type} */
  drafts: new Map(),        /* conversation id -> reply typed but not sent, kept with its own conversation */
  openings: 0,              /* counts openConversation calls: only the latest shows its conversation */
  learningInboxes: null,    /* the request for the inboxes while a conversation of an unknown one is shown */
};

const me = () => auth.session.agent.id;

function newClientId() {
  return crypto.randomUUID ? crypto.randomUUID()
    : Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

function agentName(agentId) {
  return state.agents.get(agentId)?.name || t("an agent");
}

/* The list's conversations name their inbox; an opened one also carries its channel. */
function channelOf(conversation) {
  return state.inboxes.get(conversation.inbox_id)?.kind || conversation.channel || "channel";
}

/* An inbox connected since sign-in is learnt when its first conversation shows: its channel badge, the composer's
 * channel rules (an email's recipient, SMS segments) and the filters need it. One request at a time. */
function learnInboxes(conversations) {
  if (state.learningInboxes || conversations.every((conversation) => state.inboxes.has(conversation.inbox_id))) return;
  state.learningInboxes = api("/api/v1/inboxes").then((inboxes) => {
    showInboxes(inboxes);
    renderConversations();
    if (state.selected) renderDetails();
  }).finally(() => { state.learningInboxes = null; });
  reportFailure(state.learningInboxes);
}

function showInboxes(inboxes) {
  state.inboxes = new Map(inboxes.map((inbox) => [inbox.id, inbox]));
  [["channel-filter", [...new Set(inboxes.map((inbox) => inbox.kind))].map((kind) => [kind, kind])],
   ["inbox-filter", inboxes.map((inbox) => [inbox.id, inbox.name])]].forEach(([id, options]) => {
    const chosen = byId(id).value;
    fillSelect(byId(id), options);
    byId(id).value = chosen;
  });
}

/* On a narrow screen one pane shows at a time: the list, the conversation or its details. */
function showPane(view) {
  document.body.classList.remove("view-list", "view-thread", "view-details");
  document.body.classList.add(`view-${view}`);
}

/* ---- session ---- */

async function signIn(event) {
  event.preventDefault();
  const form = event.target;
  const error = byId("login-error");
  error.textContent = "";
  form.querySelector("button").disabled = true;
  try {
    const session = await api("/api/v1/auth/session", {
      method: "POST", json: { email: form.email.value, password: form.password.value },
    });
    form.reset();
    /* Back to the page that asked for the sign-in (an admin page); the server passes only paths of this site. */
    const returnTo = document.body.dataset.returnTo;
    if (returnTo && !returnTo.startsWith("/inbox")) {
      location.assign(returnTo);
      return;
    }
    if (returnTo) history.replaceState(null, "", returnTo);
    await enterInbox(session);
  } catch (failure) {
    error.textContent = failure.message;
  } finally {
    form.querySelector("button").disabled = false;
  }
}

function signOut(reason) {
  auth.session = null;
  clearTimeout(state.reconnectTimer);
  const socket = state.socket;
  state.socket = null;
  socket?.close();
  state.everConnected = false;
  state.conversations.clear();
  state.selected = null;
  state.drafts.clear();
  byId("reply-text").value = "";
  byId("conversations").replaceChildren();
  showThread(null);
  document.title = PAGE_TITLE;
  byId("app").hidden = true;
  byId("login").hidden = false;
  byId("login-error").textContent = reason || "";
}
auth.onExpired = () => signOut(t(SESSION_ENDED));

async function logOut() {
  /* Revoke the session on the hub and clear its cookie: every tab of this browser is signed out. */
  try {
    await api("/api/v1/auth/session", { method: "DELETE" });
  } catch {
    /* Already invalid, or the hub is unreachable: ending this tab's session is what is left to do. */
  }
  signOut("");
}

function fillSelect(select, options) {
  const first = select.options[0];
  select.replaceChildren(...(first && first.value === "" ? [first] : []), ...options.map(([value, label]) => {
    const option = node("option", null, label);
    option.value = value;
    return option;
  }));
}

async function enterInbox(session) {
  auth.session = session;
  byId("login").hidden = true;
  byId("app").hidden = false;
  byId("me").textContent = session.agent.name;
  byId("me").title = session.agent.email;
  byId("admin-link").hidden = session.agent.role !== "admin";
  const [inboxes, agents, teams, , mentioned] = await Promise.all([
    api("/api/v1/inboxes"), api("/api/v1/agents"), api("/api/v1/teams"), loadLabelOptions(), unreadMentions(),
  ]);
  showInboxes(inboxes);
  state.agents = new Map(agents.map((agent) => [agent.id, agent]));
  state.teams = new Map((teams.items || teams).map((team) => [team.id, team]));
  state.unread = JSON.parse(localStorage.getItem(unreadKey()) || "{}");
  state.mentioned = new Set(mentioned);
  renderTitle();
  fillSelect(byId("team-filter"), [...state.teams.values()].map((team) => [team.id, team.name]));
  connectSocket();
  await loadConversations();
  await openFromAddress();
}

/* The label filter offers the workspace's labels, a label just added included; the chosen one stays chosen. */
async function loadLabelOptions() {
  const labels = await api("/api/v1/labels?limit=100").catch(() => ({ items: [] }));
  const select = byId("label-filter");
  const chosen = select.value;
  fillSelect(select, labels.items.map((label) => [label.label, `${label.label} (${label.conversations})`]));
  select.value = chosen;
}

/* A ticket list, ticket or customer page the address names: shown instead of the three panes. */
async function showRecordFromAddress() {
  for (const [pattern, show] of RECORD_PATHS) {
    const match = pattern.exec(location.pathname);
    if (match) {
      byId("records").hidden = false;
      byId("panes").hidden = true;
      await show(byId("records"), { agents: state.agents, me: me() }, match[1] && decodeURIComponent(match[1]));
      return true;
    }
  }
  byId("records").hidden = true;
  byId("panes").hidden = false;
  return false;
}

/* The conversation the address names (a reload, a link, the browser's back button), or none. */
async function openFromAddress() {
  if (await showRecordFromAddress()) return;
  const match = CONVERSATION_PATH.exec(location.pathname);
  if (match) {
    await openConversation(decodeURIComponent(match[1]), { remember: false });
  } else {
    keepDraft();
    state.selected = null;
    showThread(null);
    showPane("list");
    renderConversations();
  }
}

/* ---- presence and capacity ---- */

async function setPresence() {
  const presence = byId("presence").value;
  try {
    await api("/api/v1/me/presence", { method: "PUT", json: { presence } });
    const agent = state.agents.get(me());
    if (agent) agent.presence = presence;
  } catch (failure) {
    setConnection(failure.message, false);
  }
}

/* Agents (with their presence) and teams a conversation can go to; the choice made is kept. */
function renderAssignTargets() {
  const select = byId("assign-target");
  const chosen = select.value;
  fillSelect(select, [
    ...[...state.agents.values()].map((agent) => [`agent:${agent.id}`, `${agent.name} (${t(`presence:${agent.presence}`)})`]),
    ...[...state.teams.values()].map((team) => [`team:${team.id}`, t("Team {name}", { name: team.name })]),
  ]);
  if (chosen) select.value = chosen;
}

/* The agent's own presence (the socket sets it online) and how many open conversations they hold. */
async function refreshCapacity() {
  const query = new URLSearchParams({ assignee_id: me(), status: "open,pending", limit: "100" });
  const [mine, agents] = await Promise.all([api(`/api/v1/conversations?${query}`), api("/api/v1/agents")]);
  state.agents = new Map(agents.map((agent) => [agent.id, agent]));
  renderAssignTargets();
  byId("presence").value = state.agents.get(me())?.presence || "offline";
  const capacity = state.agents.get(me())?.max_concurrent;
  byId("capacity").textContent = `${mine.items.length}${mine.next_cursor ? "+" : ""} / ${capacity ?? "?"}`;
}

/* ---- conversation list ---- */

function unreadKey() {
  return `omnihub.unread.${me()}`;
}

function setUnread(conversationId, count) {
  if (count) state.unread[conversationId] = count;
  else delete state.unread[conversationId];
  localStorage.setItem(unreadKey(), JSON.stringify(state.unread));
  renderTitle();
}

function setMentioned(conversationId, mentioned) {
  if (mentioned) state.mentioned.add(conversationId);
  else if (state.mentioned.delete(conversationId)) reportFailure(readMentions(conversationId));
}

/* A note of another agent naming this one: marked on its row until opened, and alerted like a customer's message. */
function noteMentionsMe(frame) {
  const note = frame.message;
  if (note.conversation_id !== state.selected?.id || document.hidden) setMentioned(note.conversation_id, true);
  else reportFailure(readMentions(note.conversation_id));
  renderConversations();
  alertAgent({
    title: t("{author} mentioned you", { author: agentName(note.sender_id) }),
    body: note.text || "",
    conversationId: note.conversation_id,
    open: (id) => reportFailure(openConversation(id)),
  });
}

/* The tab's title counts the conversations with unread customer messages. */
function renderTitle() {
  const total = Object.keys(state.unread).length;
  document.title = total ? `(${total}) ${PAGE_TITLE}` : PAGE_TITLE;
}

function statusFilter() {
  return byId("status-filter").value.split(",");
}

/* Whether a conversation belongs in the list as the tab and filters stand (the API filters the first load;
 * live events are checked here). */
function matchesView(conversation) {
  if (!statusFilter().includes(conversation.status)) return false;
  if (state.tab === "mine" && conversation.assignee_id !== me()) return false;
  if (state.tab === "unassigned" && conversation.assignee_id) return false;
  const channel = byId("channel-filter").value;
  const inboxId = byId("inbox-filter").value;
  const teamId = byId("team-filter").value;
  const label = byId("label-filter").value;
  if (channel && channelOf(conversation) !== channel) return false;
  if (inboxId && conversation.inbox_id !== inboxId) return false;
  if (teamId && conversation.team_id !== teamId) return false;
  if (label && !(conversation.labels || []).includes(label)) return false;
  return true;
}

async function loadConversations(cursor = null) {
  const text = byId("search").value.trim();
  state.searching = Boolean(text);
  const query = new URLSearchParams({ status: statusFilter().join(","), limit: String(PAGE_SIZE) });
  if (state.tab === "mine") query.set("assignee_id", me());
  if (state.tab === "unassigned") query.set("assignee_id", "none");
  if (byId("inbox-filter").value) query.set("inbox_id", byId("inbox-filter").value);
  if (byId("label-filter").value) query.set("label", byId("label-filter").value);
  if (byId("team-filter").value) query.set("team_id", byId("team-filter").value);
  if (byId("channel-filter").value) query.set("channel", byId("channel-filter").value);
  if (text) query.set("q", text);
  if (cursor) query.set("cursor", cursor);
  const load = cursor ? state.listLoads : ++state.listLoads;
  const changedMeanwhile = cursor ? null : (state.changedWhileLoading = new Map());
  let page;
  try {
    page = await api(`/api/v1/conversations?${query}`);
  } finally {
    if (changedMeanwhile && state.changedWhileLoading === changedMeanwhile) state.changedWhileLoading = null;
  }
  if (load !== state.listLoads) return;
  if (!cursor) state.conversations.clear();
  page.items.filter(matchesView).forEach((conversation) => state.conversations.set(conversation.id, conversation));
  state.nextCursor = page.next_cursor;
  /* The page may have been read before these live changes arrived: they are newer than it. */
  Object.entries(page.summaries || {}).forEach(([id, summary]) => {
    const live = changedMeanwhile?.has(id) ? state.summaries.get(id) : null;
    state.summaries.set(id, live ? {
      ...summary,
      contact_name: live.contact_name ?? summary.contact_name,
      last_message: live.last_message ?? summary.last_message,
    } : summary);
  });
  changedMeanwhile?.forEach(listChanged);
  renderConversations();
  learnInboxes(page.items);
}

/* Search finds conversations by what was said in them or by their customer's name or identities, within the
 * tab and filters. */
async function search(event) {
  event.preventDefault();
  await loadConversations();
}

function sortedConversations() {
  return [...state.conversations.values()].sort(
    (a, b) => (b.last_message_at || "").localeCompare(a.last_message_at || "") || b.id.localeCompare(a.id));
}

function renderConversations() {
  const sorted = sortedConversations();
  byId("conversations").replaceChildren(...sorted.map(conversationItem));
  byId("no-conversations").hidden = sorted.length > 0;
  byId("load-more").hidden = !state.nextCursor;
  document.querySelectorAll("[data-tab]").forEach((tab) => tab.setAttribute("aria-selected", String(tab.dataset.tab === state.tab)));
}

function conversationItem(conversation) {
  const summary = state.summaries.get(conversation.id) || {};
  const unread = state.unread[conversation.id] || 0;
  const item = node("li");
  const row = node("button", "conversation");
  row.type = "button";
  row.dataset.conversationId = conversation.id;
  if (state.selected?.id === conversation.id) row.setAttribute("aria-current", "true");
  if (unread) row.classList.add("unread");
  const top = node("span", "conversation-top");
  top.append(node("strong", "customer", summary.contact_name || t("Customer")),
             node("time", null, formatTime(conversation.last_message_at)));
  const preview = node("span", "preview", summary.last_message || "");
  const bottom = node("span", "conversation-bottom");
  bottom.append(node("span", `channel channel-${channelOf(conversation)}`, channelOf(conversation)),
                node("span", `status status-${conversation.status}`, t(`status:${conversation.status}`)),
                node("span", "muted assignee", conversation.assignee_id ? agentName(conversation.assignee_id) : t("unassigned")));
  if (state.mentioned.has(conversation.id)) {
    const mark = node("span", "mention", "@");
    mark.title = t("You were mentioned");
    mark.setAttribute("aria-label", mark.title);
    bottom.append(mark);
  }
  if (unread) {
    const badge = node("span", "unread-count", String(unread));
    badge.setAttribute("aria-label", t("{count} unread", { count: unread }));
    bottom.append(badge);
  }
  row.append(top, preview, bottom);
  row.addEventListener("click", () => openConversation(conversation.id));
  item.append(row);
  return item;
}

/* A conversation event: keep the list in step with the tab and filters, and the open conversation's details. */
function conversationChanged(conversation) {
  state.changedWhileLoading?.set(conversation.id, conversation);
  listChanged(conversation);
  if (state.selected?.id === conversation.id) reportFailure(refreshDetails());
  renderConversations();
  learnInboxes([conversation]);
}

function listChanged(conversation) {
  if (!state.searching) {
    if (matchesView(conversation)) state.conversations.set(conversation.id, conversation);
    else state.conversations.delete(conversation.id);
  } else if (state.conversations.has(conversation.id)) {
    state.conversations.set(conversation.id, conversation);
  }
}

/* Events carry the bare conversation; the reply window and identity come with the full one. */
async function refreshDetails() {
  const conversationId = state.selected.id;
  const conversation = await api(path`/api/v1/conversations/${conversationId}`);
  if (state.selected?.id !== conversationId) return;
  state.selected = conversation;
  renderDetails();
}

function step(offset) {
  const sorted = sortedConversations();
  if (!sorted.length) return;
  const index = sorted.findIndex((conversation) => conversation.id === state.selected?.id);
  const next = sorted[Math.min(Math.max(index + offset, 0), sorted.length - 1)];
  if (next && next.id !== state.selected?.id) reportFailure(openConversation(next.id, { focusComposer: false }));
}

/* ---- one conversation ---- */

/* A reply typed for one customer never goes to another: it waits with its conversation, which shows it again. */
function keepDraft() {
  if (state.selected) state.drafts.set(state.selected.id, byId("reply-text").value);
}

function showThread(conversation) {
  byId("no-selection").hidden = !!conversation;
  byId("thread").hidden = !conversation;
  byId("details").hidden = !conversation;
}

/* `focusComposer` false keeps the keyboard on the list (j/k), where a letter would otherwise go into the reply. */
async function openConversation(conversationId, { remember = true, focusComposer = true } = {}) {
  const address = `/inbox/conversations/${encodeURIComponent(conversationId)}`;
  if (remember && location.pathname !== address) history.pushState(null, "", address);
  const opening = ++state.openings;
  const conversation = await api(path`/api/v1/conversations/${conversationId}`);
  if (opening !== state.openings) return; /* opened another since (j j k, quick clicks): that one is shown */
  keepDraft();
  byId("reply-text").value = state.drafts.get(conversationId) || "";
  setUnread(conversationId, 0);
  setMentioned(conversationId, false);
  hideCustomerTyping();
  state.messages.clear();
  byId("messages").replaceChildren();
  byId("composer-error").textContent = "";
  byId("action-status").textContent = "";
  byId("labels").value = "";
  byId("labels").dataset.shown = "";
  state.pendingAttachments = []; /* files chosen for one customer never go to another */
  renderPendingAttachments();
  state.selected = conversation;
  showThread(state.selected);
  showPane("thread");
  renderDetails();
  renderConversations();
  reportFailure(refreshCustomer());
  await loadMessages();
  if (focusComposer) byId("reply-text").focus();
}

function refreshCustomer() {
  return showCustomer(byId("customer"), state.selected.contact_id, {
    openConversation: (id) => reportFailure(openConversation(id)), currentId: state.selected.id,
  });
}

async function loadMessages() {
  const conversationId = state.selected.id;
  let page;
  do {
    const known = [...state.messages.keys()].sort();
    const after = known.length ? `&after=${encodeURIComponent(known[known.length - 1])}` : "";
    page = await api(`${path`/api/v1/conversations/${conversationId}/messages`}?limit=${MESSAGE_PAGE}${after}`);
    if (state.selected?.id !== conversationId) return;
    page.items.forEach(showMessage);
  } while (page.items.length === MESSAGE_PAGE);
}

function replyWindowClosed(conversation) {
  const endsAt = conversation.reply_window?.ends_at;
  return (endsAt && new Date(endsAt) < new Date()) || conversation.reply_window?.replies_remaining === 0;
}

function renderDetails() {
  const conversation = state.selected;
  const inbox = state.inboxes.get(conversation.inbox_id);
  const summary = state.summaries.get(conversation.id) || {};
  byId("thread-title").replaceChildren(
    node("strong", null, summary.contact_name || (conversation.identity ? conversation.identity.value : t("Customer"))),
    node("span", `channel channel-${channelOf(conversation)}`, inbox ? inbox.name : conversation.channel),
    node("span", `status status-${conversation.status}`, t(`status:${conversation.status}`)));
  const facts = [
    ["Channel", conversation.channel],
    ["Customer", conversation.identity ? `${conversation.identity.kind} ${conversation.identity.value}` : conversation.contact_id],
    ["Status", t(`status:${conversation.status}`) + (conversation.snoozed_until
      ? ` ${t("until {time}", { time: formatTime(conversation.snoozed_until) })}` : "")],
    ["Assignee", conversation.assignee_id ? agentName(conversation.assignee_id) : t("unassigned")],
    ["Team", conversation.team_id ? state.teams.get(conversation.team_id)?.name || conversation.team_id : t("none")],
    ["Labels", (conversation.labels || []).join(", ") || t("none")],
    ["Started", formatTime(conversation.created_at)],
  ];
  const replyWindow = conversation.reply_window || {};
  if (replyWindow.ends_at) facts.push(["Reply window ends", formatTime(replyWindow.ends_at)]);
  if (replyWindow.replies_remaining != null) facts.push(["Replies remaining", String(replyWindow.replies_remaining)]);
  byId("facts").replaceChildren(...facts.flatMap(([term, value]) => [node("dt", null, t(term)), node("dd", null, value)]));
  byId("assign-me").disabled = conversation.assignee_id === me();
  byId("resolve").disabled = conversation.status === "resolved";
  byId("reopen").disabled = !["resolved", "pending", "snoozed"].includes(conversation.status);
  byId("pending").disabled = conversation.status === "pending" || conversation.status === "resolved";
  showLabels(conversation.labels || []);
  renderReplyContext();
}

/* The labels field follows the conversation unless the agent is editing it. */
function showLabels(labels) {
  const input = byId("labels");
  const shown = labels.join(", ");
  if (input.value === (input.dataset.shown || "")) input.value = shown;
  input.dataset.shown = shown;
}

/* What the channel allows: the reply window (WeChat's 48 hours), the recipient of an email, SMS segments. */
function renderReplyContext() {
  const conversation = state.selected;
  const context = byId("reply-context");
  const closed = replyWindowClosed(conversation);
  byId("reply-button").disabled = closed;
  renderEmailSubject();
  if (closed) {
    context.textContent = t("The channel's reply window closed {time}: the customer must write first. Notes still work.",
                            { time: formatTime(conversation.reply_window.ends_at) });
    context.className = "error reply-context";
    return;
  }
  context.className = "muted reply-context";
  const parts = [];
  if (conversation.reply_window?.ends_at) parts.push(t("Replies allowed until {time}", { time: formatTime(conversation.reply_window.ends_at) }));
  if (conversation.reply_format?.subject && conversation.identity) parts.push(t("To: {address}", { address: conversation.identity.value }));
  context.textContent = parts.join(" · ");
  renderSegments();
}

/* A reply with a subject line (email) goes out with the one the hub names (reply_format.subject, "Re:" and all; the
 * reply API takes none): shown to the agent as sent, not editable. */
function renderEmailSubject() {
  const subject = state.selected.reply_format?.subject;
  byId("email-subject").hidden = !subject;
  byId("email-subject-text").textContent = subject || "";
}

/* The segments and encoding an SMS reply will cost, as the agent types (sms_segments.js). */
function renderSegments() {
  const text = byId("reply-text").value;
  if (!state.selected?.reply_format?.billed_per_sms_segment || !text) {
    byId("segments").textContent = "";
    return;
  }
  const { encoding, units, segments, perSegment } = smsSegments(text);
  byId("segments").textContent = t("{encoding} · {units}/{per} · {segments} SMS",
                                   { encoding, units, per: perSegment * segments, segments });
}

function senderLabel(message) {
  if (message.sender === "agent") return message.sender_id ? agentName(message.sender_id) : t("Agent");
  return SENDER_LABELS[message.sender] ? t(SENDER_LABELS[message.sender]) : message.sender;
}

/* Show a message, or update it in place (status changes arrive as message.updated). The socket
 * may bring a newer state before the answer to the request that created the message: the older
 * of the two never replaces the newer. */
function showMessage(message) {
  if (message.conversation_id !== state.selected?.id) return;
  let entry = state.messages.get(message.id);
  if (entry && entry.data.updated_at > message.updated_at) return;
  if (!entry) {
    entry = { element: node("li") };
    state.messages.set(message.id, entry);
    const list = byId("messages");
    const later = [...list.children].find((child) => child.dataset.messageId > message.id);
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
    list.insertBefore(entry.element, later || null);
    entry.element.dataset.messageId = message.id;
    if (atBottom || message.direction !== "in") requestAnimationFrame(() => { list.scrollTop = list.scrollHeight; });
  }
  entry.data = message;
  const element = entry.element;
  element.className = `message message-${message.direction} sender-${message.sender}`;
  const meta = node("div", "message-meta");
  const who = node("span", null, message.direction === "note" ? t("Note · {author}", { author: senderLabel(message) }) : senderLabel(message));
  if (message.sender === "bot") who.prepend(node("span", "bot-mark", t("BOT")), " ");
  meta.append(who, node("span", `channel channel-${channelOf(state.selected)}`, channelOf(state.selected)),
              node("time", null, formatTime(message.created_at)));
  if (message.direction === "note" && (message.sender_id === me() || auth.session.agent.role === "admin")) {
    meta.append(button(t("Delete"), () => reportFailure(deleteNote(message)), "link delete-note"));
  }
  const body = linkedText("div", "message-text", message.text || "");
  element.replaceChildren(meta, body);
  (message.attachments || []).forEach((attachment) => element.append(attachmentLink(attachment)));
  if (message.direction === "out") {
    const status = node("div", `delivery delivery-${message.status}`, t(`delivery:${message.status}`));
    if (message.error) status.append(node("span", "delivery-error", ` — ${message.error}`));
    element.append(status);
  }
}

/* A note deleted here or by another agent (note.deleted) leaves the open conversation. */
function removeMessage(conversationId, messageId) {
  if (conversationId !== state.selected?.id) return;
  state.messages.get(messageId)?.element.remove();
  state.messages.delete(messageId);
}

async function deleteNote(message) {
  await api(path`/api/v1/conversations/${message.conversation_id}/notes/${message.id}`, { method: "DELETE" });
  removeMessage(message.conversation_id, message.id);
}

function attachmentLink(attachment) {
  const label = attachment.name || attachment.kind || t("attachment");
  const url = attachment.url || "";
  if (!/^(https?:\/\/|\/)/.test(url)) return node("div", "attachment", label);
  const link = node("a", "attachment", label);
  if (attachment.kind === "image" && url.startsWith(`${location.origin}/attachments/`)) {
    const image = node("img");
    image.src = url;
    image.alt = label;
    link.replaceChildren(image);
  }
  link.href = url;
  link.rel = "noopener noreferrer";
  link.target = "_blank";
  return link;
}

/* Reply or note. The client_id makes a retry after a network failure store the message once. */
async function write(kind) {
  const textarea = byId("reply-text");
  const text = textarea.value.trim();
  const error = byId("composer-error");
  error.textContent = "";
  const attachments = state.pendingAttachments;
  if ((!text && !attachments.length) || !state.selected) return;
  if (kind === "reply" && replyWindowClosed(state.selected)) return;
  const target = path`/api/v1/conversations/${state.selected.id}/${kind === "note" ? "notes" : "messages"}`;
  const body = { text, client_id: newClientId(), attachments };
  setComposerBusy(true);
  try {
    showMessage(await withRetry(() => api(target, { method: "POST", json: body }), () => {
      error.textContent = t("Reconnecting… your message is kept and will be sent.");
    }));
    error.textContent = "";
    textarea.value = "";
    state.typingSentAt = 0;
    state.pendingAttachments = [];
    renderPendingAttachments();
    renderSegments();
  } catch (failure) {
    error.textContent = failure.message;
  } finally {
    setComposerBusy(false);
    textarea.focus();
  }
}

/* A network failure is tried again a few times; an outage (503) until it ends, as it asks (Retry-After). */
async function withRetry(call, onOutage, attempts = 3) {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await call();
    } catch (failure) {
      const outage = failure instanceof ApiError && failure.status === 503;
      if (!outage && (failure instanceof ApiError || attempt >= attempts)) throw failure;
      if (outage) onOutage();
      await new Promise((resolve) => setTimeout(resolve, outage ? failure.retryAfterMs : 500 * attempt));
    }
  }
}

/* Files are uploaded as soon as they are chosen or dropped, then sent with the next reply or note. */
async function attachFiles(files) {
  const error = byId("composer-error");
  error.textContent = "";
  setComposerBusy(true);
  try {
    for (const file of files) {
      const form = new FormData();
      form.append("file", file);
      const response = await fetch("/api/v1/attachments", {
        method: "POST", body: form, credentials: "same-origin", headers: { "X-CSRF-Token": auth.session.csrf_token },
      });
      const stored = await response.json().catch(() => ({}));
      if (!response.ok) throw new ApiError(response.status, stored);
      state.pendingAttachments.push({ kind: attachmentKind(stored.mime_type), url: stored.url, name: stored.name,
                                      mime_type: stored.mime_type });
    }
  } catch (failure) {
    error.textContent = failure.message;
  } finally {
    setComposerBusy(false);
    renderPendingAttachments();
  }
}

function attachmentKind(mimeType) {
  const family = (mimeType || "").split("/")[0];
  return { image: "image", audio: "voice", video: "video" }[family] || "file";
}

function renderPendingAttachments() {
  byId("pending-attachments").replaceChildren(...state.pendingAttachments.map((attachment, index) => {
    const item = node("li", null, attachment.name);
    const remove = node("button", null, "×");
    remove.type = "button";
    remove.title = t("Remove {name}", { name: attachment.name });
    remove.addEventListener("click", () => {
      state.pendingAttachments.splice(index, 1);
      renderPendingAttachments();
    });
    item.append(remove);
    return item;
  }));
}

/* Tell the customer an agent is typing, at most once per TYPING_REPEAT_MS; notes are not replies. */
function announceTyping() {
  renderSegments();
  const now = Date.now();
  if (!state.selected || !byId("reply-text").value.trim() || now - state.typingSentAt < TYPING_REPEAT_MS) return;
  state.typingSentAt = now;
  api(path`/api/v1/conversations/${state.selected.id}/typing`, { method: "POST", json: { typing: true } }).catch(() => {});
}

function setComposerBusy(busy) {
  byId("reply-button").disabled = busy || (state.selected && replyWindowClosed(state.selected));
  byId("note-button").disabled = busy;
  byId("attach-button").disabled = busy;
}

/* ---- actions ---- */

/* An action on the open conversation; `request` answers the changed conversation, or nothing. */
async function act(request, done) {
  const status = byId("action-status");
  status.textContent = "";
  try {
    const conversation = await request();
    if (conversation) conversationChanged(conversation);
    status.textContent = done;
    reportFailure(refreshCapacity());
  } catch (failure) {
    status.textContent = failure.message;
  }
}

const conversationPath = (action) => path`/api/v1/conversations/${state.selected.id}/${action}`;

function changeStatus(status, extra = {}) {
  return act(() => api(conversationPath("status"), { method: "POST", json: { status, ...extra } }), t("Now {status}.", { status: t(`status:${status}`) }));
}

function resolve() {
  if (!state.selected || state.selected.status === "resolved") return;
  act(() => api(conversationPath("resolve"), { method: "POST" }), t("Resolved."));
}

function assignTo(event) {
  event.preventDefault();
  const [kind, id] = byId("assign-target").value.split(":");
  if (kind === "team") {
    transfer();
    return;
  }
  act(() => api(conversationPath("assign"), { method: "POST", json: { agent_id: id } }), t("Assigned to {name}.", { name: agentName(id) }));
}

function transfer() {
  const [kind, id] = byId("assign-target").value.split(":");
  const note = byId("transfer-note").value.trim();
  const json = { [`${kind}_id`]: id, ...(note ? { note } : {}) };
  act(() => api(conversationPath("transfer"), { method: "POST", json }), t("Transferred.")).then(() => {
    byId("transfer-note").value = "";
  });
}

function saveLabels(event) {
  event.preventDefault();
  const labels = byId("labels").value.split(",").map((label) => label.trim()).filter(Boolean);
  act(() => api(conversationPath("labels"), { method: "PUT", json: { labels } }), t("Labels saved.")).then(loadLabelOptions);
}

function snooze(event) {
  event.preventDefault();
  const until = new Date(byId("snooze-until").value);
  changeStatus("snoozed", { snoozed_until: until.toISOString() });
}

function openTicket(event) {
  event.preventDefault();
  const subject = byId("ticket-subject").value.trim();
  const conversationId = state.selected.id;
  act(async () => {
    await api("/api/v1/tickets", { method: "POST", json: { subject, conversation_id: conversationId } });
    byId("ticket-subject").value = "";
    reportFailure(refreshCustomer());
  }, t("Ticket opened."));
}

/* ---- live updates ---- */

function setConnection(text, live) {
  const indicator = byId("connection");
  indicator.textContent = text;
  indicator.classList.toggle("live", live);
}

function connectSocket() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const socket = new WebSocket(`${scheme}//${location.host}/api/v1/agent/ws`);
  state.socket = socket;
  setConnection(t("Connecting…"), false);
  /* The browser sends the session cookie; the first frame proves the page is ours (as for every change). */
  socket.addEventListener("open", () => socket.send(JSON.stringify({ csrf_token: auth.session.csrf_token })));
  socket.addEventListener("message", (event) => {
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch {
      return;
    }
    onSocketEvent(frame, socket);
  });
  socket.addEventListener("close", (event) => {
    if (state.socket !== socket) return;
    state.socket = null;
    if (event.code === 4401) {
      signOut(t(SESSION_ENDED));
      return;
    }
    setConnection(t("Offline, reconnecting…"), false);
    state.reconnectTimer = setTimeout(connectSocket, state.reconnectMs);
    state.reconnectMs = Math.min(state.reconnectMs * 2, MAX_RECONNECT_MS);
  });
}

function onSocketEvent(frame, socket) {
  trackCustomerTyping(frame, state.selected?.id);
  if (frame.type === "ready") {
    state.reconnectMs = 1000;
    setConnection(t("Live"), true);
    reportFailure(refreshCapacity());
    if (state.everConnected) reportFailure(catchUp(socket));
    state.everConnected = true;
    return;
  }
  const message = frame.message;
  if (message && frame.type === "message.created" && message.direction !== "note") {
    const summary = state.summaries.get(message.conversation_id) || { contact_name: null };
    state.summaries.set(message.conversation_id, { ...summary, last_message: message.text || `[${message.content_type || t("file")}]` });
    if (frame.conversation && !summary.contact_name) reportFailure(fetchName(frame.conversation));
  }
  if (frame.type === "note.deleted") removeMessage(frame.conversation_id, frame.note_id);
  if (frame.type === "message.created" && message?.direction === "note" && message.sender_id !== me()
      && mentions(message.text, auth.session.agent.name)) {
    noteMentionsMe(frame);
  }
  if (frame.type === "conversation.created" || (frame.type === "message.created" && message?.direction === "in")) {
    announce(frame);
  }
  if (frame.type === "contact.page_viewed" && frame.contact_id === state.selected?.contact_id) {
    reportFailure(refreshCustomer());
  }
  if (frame.conversation) conversationChanged(frame.conversation);
  if (frame.type === "conversation.assigned" || frame.type === "conversation.resolved") reportFailure(refreshCapacity());
  if (message && (frame.type === "message.created" || frame.type === "message.updated")) {
    const open = message.conversation_id === state.selected?.id;
    if (open) showMessage(message);
    if (frame.type === "message.created" && message.direction === "in" && (!open || document.hidden)) {
      setUnread(message.conversation_id, (state.unread[message.conversation_id] || 0) + 1);
      renderConversations();
    }
  }
}

/* Sound and notification (when switched on and the tab is hidden) for what the agent may take: a conversation
 * unassigned or their own. */
function announce(frame) {
  const conversation = frame.conversation;
  if (!conversation || (conversation.assignee_id && conversation.assignee_id !== me())) return;
  const name = state.summaries.get(conversation.id)?.contact_name || t("Customer");
  alertAgent({
    title: frame.type === "conversation.created" ? t("New conversation") : t("New message from {name}", { name }),
    body: frame.message?.text || "",
    conversationId: conversation.id,
    open: (id) => reportFailure(openConversation(id)),
  });
}

/* A conversation first seen live: its row names the customer as the list would. */
async function fetchName(conversation) {
  const contact = await api(path`/api/v1/contacts/${conversation.contact_id}`);
  const summary = state.summaries.get(conversation.id) || { last_message: null };
  state.summaries.set(conversation.id, { ...summary, contact_name: contact.name });
  renderConversations();
}

/* After a reconnect, fetch what happened while the socket was down. */
async function catchUp(socket) {
  if (state.socket !== socket) return;
  state.mentioned = new Set(await unreadMentions()); /* notes written while the socket was down */
  if (state.selected) setMentioned(state.selected.id, false);
  await loadConversations();
  if (state.selected) await loadMessages();
}

function reportFailure(promise) {
  promise.catch((failure) => setConnection(failure.message, false));
}

/* Light, dark, then the system's choice again; kept in a cookie the admin pages read too. */
function switchTheme() {
  const root = document.documentElement;
  const next = { light: "dark", dark: "" }[root.dataset.theme || ""] ?? "light";
  if (next) {
    root.dataset.theme = next;
    document.cookie = `omnihub_theme=${next}; path=/; max-age=31536000; samesite=lax`;
  } else {
    delete root.dataset.theme;
    document.cookie = "omnihub_theme=; path=/; max-age=0; samesite=lax";
  }
  byId("theme").textContent = t("Theme: {theme}", { theme: t(`theme:${next || "system"}`) });
}

/* The language switches (header, sign-in): the cookie the admin pages read too, then the page again in that language. */
function switchLanguage(event) {
  document.cookie = `omnihub_lang=${encodeURIComponent(event.target.value)}; path=/; max-age=31536000; samesite=lax`;
  location.reload();
}

/* ---- wiring ---- */

byId("login-form").addEventListener("submit", signIn);
byId("logout").addEventListener("click", logOut);
byId("presence").addEventListener("change", setPresence);
byId("theme").addEventListener("click", switchTheme);
document.querySelectorAll(".language-switch").forEach((select) => select.addEventListener("change", switchLanguage));
installAlerts(byId("alerts"));
document.querySelectorAll("[data-tab]").forEach((tab) => tab.addEventListener("click", () => {
  state.tab = tab.dataset.tab;
  reportFailure(loadConversations());
}));
["status-filter", "channel-filter", "inbox-filter", "team-filter", "label-filter"].forEach((id) =>
  byId(id).addEventListener("change", () => reportFailure(loadConversations())));
byId("search-form").addEventListener("submit", (event) => reportFailure(search(event)));
byId("load-more").addEventListener("click", () => reportFailure(loadConversations(state.nextCursor)));
byId("composer").addEventListener("submit", (event) => {
  event.preventDefault();
  write("reply");
});
byId("note-button").addEventListener("click", () => write("note"));
byId("reply-text").addEventListener("input", announceTyping);
byId("attach-button").addEventListener("click", () => byId("attach-file").click());
byId("attach-file").addEventListener("change", (event) => {
  const files = [...event.target.files];
  event.target.value = "";
  attachFiles(files);
});
byId("thread").addEventListener("dragover", (event) => {
  event.preventDefault();
  byId("thread").classList.add("dropping");
});
byId("thread").addEventListener("dragleave", () => byId("thread").classList.remove("dropping"));
byId("thread").addEventListener("drop", (event) => {
  event.preventDefault();
  byId("thread").classList.remove("dropping");
  if (event.dataTransfer?.files.length) attachFiles([...event.dataTransfer.files]);
});
installCanned(byId("reply-text"), byId("canned"));
installMentions(byId("reply-text"), byId("mentions"), () => [...state.agents.values()].filter((agent) => agent.id !== me()));
byId("reply-text").addEventListener("keydown", (event) => {
  /* Enter while an input method is composing (Chinese, Japanese) picks a candidate; it must not send. */
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
    event.preventDefault();
    write("reply");
  }
});
byId("assign-me").addEventListener("click", () =>
  act(() => api(conversationPath("assign"), { method: "POST", json: { agent_id: me() } }), t("Assigned to you.")));
byId("resolve").addEventListener("click", resolve);
byId("reopen").addEventListener("click", () => changeStatus("open"));
byId("pending").addEventListener("click", () => changeStatus("pending"));
byId("snooze-form").addEventListener("submit", snooze);
byId("assign-form").addEventListener("submit", assignTo);
byId("transfer").addEventListener("click", transfer);
byId("labels-form").addEventListener("submit", saveLabels);
byId("ticket-form").addEventListener("submit", openTicket);
byId("back-to-list").addEventListener("click", () => showPane("list"));
byId("show-details").addEventListener("click", () => showPane("details"));
byId("back-to-thread").addEventListener("click", () => showPane("thread"));
installShortcuts({
  next: () => step(1),
  previous: () => step(-1),
  reply: () => state.selected && byId("reply-text").focus(),
  resolve,
});

window.addEventListener("popstate", () => {
  if (auth.session) reportFailure(openFromAddress());
});

/* Signed in already (the cookie of an earlier sign-in, in this tab or another): straight into the inbox. */
if ("sessionCookie" in document.body.dataset) {
  api("/api/v1/auth/session").then((session) => reportFailure(enterInbox(session)), () => {
    byId("login").hidden = false;
  });
} else {
  byId("login").hidden = false;
}
