/* Omnihub agent inbox: plain JavaScript over the REST API (/api/v1) and the agent WebSocket.
 *
 * Signing in sets the session cookie (HttpOnly: this script never sees the token), so the session
 * survives reloads and new tabs. Every change carries the session's CSRF token in the X-CSRF-Token
 * header (and the socket's first frame), which another site's page can neither read nor compute.
 * Each conversation has its own address, /inbox/conversations/<id>.
 * Everything customers or agents typed is rendered with textContent, never as markup. */
"use strict";

(() => {
  const CONVERSATION_PATH = /^\/inbox\/conversations\/([^/]+)$/;
  const PAGE_SIZE = 50;
  const MESSAGE_PAGE = 500;
  const MAX_RECONNECT_MS = 30000;
  const SENDER_LABELS = { contact: "Customer", bot: "Bot", system: "System" };
  const TYPING_REPEAT_MS = 5000; /* channels drop a typing indicator after a few seconds unless it is renewed */

  const state = {
    session: null,
    inboxes: new Map(),
    agents: new Map(),
    conversations: new Map(), /* id -> conversation shown in the list, most recent activity first */
    nextCursor: null,
    selected: null,           /* the open conversation, with channel, identity and reply_window */
    messages: new Map(),      /* id -> {data, element} of the open conversation */
    unread: new Set(),
    socket: null,
    reconnectMs: 1000,
    reconnectTimer: 0,
    everConnected: false,     /* a later "ready" is a reconnect: fetch what was missed */
    typingSentAt: 0,          /* when the customer was last told that this agent is typing */
    pendingAttachments: [],   /* uploaded files waiting to go out with the next reply: {kind, url, name, mime_type} */
  };
  const byId = (id) => document.getElementById(id);

  function node(tag, className, text) {
    const element = document.createElement(tag);
    if (className) element.className = className;
    if (text != null) element.textContent = text;
    return element;
  }

  class ApiError extends Error {
    constructor(status, body, retryAfter) {
      super(body.detail || `Request failed (${status})`);
      this.status = status;
      this.code = body.code;
      this.retryAfterMs = (parseInt(retryAfter, 10) || 5) * 1000;
    }
  }

  async function api(path, { method = "GET", json } = {}) {
    const headers = { Accept: "application/json" };
    if (state.session && method !== "GET") headers["X-CSRF-Token"] = state.session.csrf_token;
    if (json !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(path, {
      method, headers, credentials: "same-origin", body: json === undefined ? undefined : JSON.stringify(json),
    });
    const body = await response.json().catch(() => ({}));
    if (response.status === 401 && state.session) {
      signOut("Your session has ended; please sign in again.");
    }
    if (!response.ok) throw new ApiError(response.status, body, response.headers.get("Retry-After"));
    return body;
  }

  function newClientId() {
    return crypto.randomUUID ? crypto.randomUUID()
      : Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function formatTime(iso) {
    if (!iso) return "";
    const moment = new Date(iso);
    const today = new Date().toDateString() === moment.toDateString();
    return today ? moment.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
      : moment.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
  }

  function agentName(agentId) {
    return state.agents.get(agentId)?.name || "an agent";
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
      await enterInbox(session);
    } catch (failure) {
      error.textContent = failure.message;
    } finally {
      form.querySelector("button").disabled = false;
    }
  }

  function signOut(reason) {
    state.session = null;
    clearTimeout(state.reconnectTimer);
    const socket = state.socket;
    state.socket = null;
    socket?.close();
    state.everConnected = false;
    state.conversations.clear();
    state.selected = null;
    byId("conversations").replaceChildren();
    showThread(null);
    byId("app").hidden = true;
    byId("login").hidden = false;
    byId("login-error").textContent = reason || "";
  }

  async function logOut() {
    /* Revoke the session on the hub and clear its cookie: every tab of this browser is signed out. */
    try {
      await api("/api/v1/auth/session", { method: "DELETE" });
    } catch {
      /* Already invalid, or the hub is unreachable: ending this tab's session is what is left to do. */
    }
    signOut("");
  }

  async function enterInbox(session) {
    state.session = session;
    byId("login").hidden = true;
    byId("app").hidden = false;
    byId("me").textContent = `${session.agent.name} · ${session.agent.email}`;
    const [inboxes, agents] = await Promise.all([api("/api/v1/inboxes"), api("/api/v1/agents")]);
    state.inboxes = new Map(inboxes.map((inbox) => [inbox.id, inbox]));
    state.agents = new Map(agents.map((agent) => [agent.id, agent]));
    connectSocket();
    await loadConversations();
    await openFromAddress();
  }

  /* The conversation the address names (a reload, a link, the browser's back button), or none. */
  async function openFromAddress() {
    const match = CONVERSATION_PATH.exec(location.pathname);
    if (match) {
      await openConversation(decodeURIComponent(match[1]), { remember: false });
    } else {
      state.selected = null;
      showThread(null);
      renderConversations();
    }
  }

  /* ---- conversation list ---- */

  function statusFilter() {
    return byId("status-filter").value.split(",");
  }

  async function loadConversations(cursor = null) {
    const query = new URLSearchParams({ status: statusFilter().join(","), limit: String(PAGE_SIZE) });
    if (cursor) query.set("cursor", cursor);
    const page = await api(`/api/v1/conversations?${query}`);
    if (!cursor) state.conversations.clear();
    page.items.forEach((conversation) => state.conversations.set(conversation.id, conversation));
    state.nextCursor = page.next_cursor;
    renderConversations();
  }

  function renderConversations() {
    const list = byId("conversations");
    const sorted = [...state.conversations.values()].sort(
      (a, b) => (b.last_message_at || "").localeCompare(a.last_message_at || "") || b.id.localeCompare(a.id));
    list.replaceChildren(...sorted.map(conversationItem));
    byId("no-conversations").hidden = sorted.length > 0;
    byId("load-more").hidden = !state.nextCursor;
  }

  function conversationItem(conversation) {
    const inbox = state.inboxes.get(conversation.inbox_id);
    const item = node("li");
    const button = node("button", "conversation");
    button.type = "button";
    button.dataset.conversationId = conversation.id;
    if (state.selected?.id === conversation.id) button.setAttribute("aria-current", "true");
    if (state.unread.has(conversation.id)) button.classList.add("unread");
    const top = node("span", "conversation-top");
    top.append(node("strong", null, inbox ? inbox.name : "Inbox"), node("time", null, formatTime(conversation.last_message_at)));
    const bottom = node("span", "conversation-bottom");
    bottom.append(node("span", `status status-${conversation.status}`, conversation.status),
                  node("span", "muted", conversation.assignee_id ? agentName(conversation.assignee_id) : "unassigned"));
    button.append(top, bottom);
    button.addEventListener("click", () => openConversation(conversation.id));
    item.append(button);
    return item;
  }

  /* A conversation event: keep the list in step with the filter, and the open conversation's details. */
  function conversationChanged(conversation) {
    if (statusFilter().includes(conversation.status)) {
      state.conversations.set(conversation.id, conversation);
    } else {
      state.conversations.delete(conversation.id);
    }
    if (state.selected?.id === conversation.id) reportFailure(refreshDetails());
    renderConversations();
  }

  /* Events carry the bare conversation; the reply window and identity come with the full one. */
  async function refreshDetails() {
    const conversationId = state.selected.id;
    const conversation = await api(`/api/v1/conversations/${encodeURIComponent(conversationId)}`);
    if (state.selected?.id !== conversationId) return;
    state.selected = conversation;
    renderDetails();
  }

  /* ---- one conversation ---- */

  function showThread(conversation) {
    byId("no-selection").hidden = !!conversation;
    byId("thread").hidden = !conversation;
    byId("details").hidden = !conversation;
  }

  async function openConversation(conversationId, { remember = true } = {}) {
    const address = `/inbox/conversations/${encodeURIComponent(conversationId)}`;
    if (remember && location.pathname !== address) history.pushState(null, "", address);
    state.unread.delete(conversationId);
    state.messages.clear();
    byId("messages").replaceChildren();
    byId("composer-error").textContent = "";
    state.pendingAttachments = []; /* files chosen for one customer never go to another */
    renderPendingAttachments();
    state.selected = await api(`/api/v1/conversations/${encodeURIComponent(conversationId)}`);
    showThread(state.selected);
    renderDetails();
    renderConversations();
    await loadMessages();
    byId("reply-text").focus();
  }

  async function loadMessages() {
    const conversationId = state.selected.id;
    let page;
    do {
      const known = [...state.messages.keys()].sort();
      const after = known.length ? `&after=${encodeURIComponent(known[known.length - 1])}` : "";
      page = await api(`/api/v1/conversations/${encodeURIComponent(conversationId)}/messages?limit=${MESSAGE_PAGE}${after}`);
      if (state.selected?.id !== conversationId) return;
      page.items.forEach(showMessage);
    } while (page.items.length === MESSAGE_PAGE);
  }

  function renderDetails() {
    const conversation = state.selected;
    const inbox = state.inboxes.get(conversation.inbox_id);
    const title = byId("thread-title");
    title.replaceChildren(node("strong", null, inbox ? inbox.name : conversation.channel),
                          node("span", `status status-${conversation.status}`, conversation.status));
    const facts = [
      ["Channel", conversation.channel],
      ["Customer", conversation.identity ? `${conversation.identity.kind} ${conversation.identity.value}` : conversation.contact_id],
      ["Status", conversation.status],
      ["Assignee", conversation.assignee_id ? agentName(conversation.assignee_id) : "unassigned"],
      ["Started", formatTime(conversation.created_at)],
    ];
    const replyWindow = conversation.reply_window || {};
    if (replyWindow.ends_at) facts.push(["Reply window ends", formatTime(replyWindow.ends_at)]);
    if (replyWindow.replies_remaining != null) facts.push(["Replies remaining", String(replyWindow.replies_remaining)]);
    byId("facts").replaceChildren(...facts.flatMap(([term, value]) => [node("dt", null, term), node("dd", null, value)]));
    byId("assign-me").disabled = conversation.assignee_id === state.session.agent.id;
    byId("resolve").disabled = conversation.status === "resolved";
  }

  function senderLabel(message) {
    if (message.sender === "agent") return message.sender_id ? agentName(message.sender_id) : "Agent";
    return SENDER_LABELS[message.sender] || message.sender;
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
    element.className = `message message-${message.direction}`;
    const meta = node("div", "message-meta");
    meta.append(node("span", null, message.direction === "note" ? `Note · ${senderLabel(message)}` : senderLabel(message)),
                node("time", null, formatTime(message.created_at)));
    const body = node("div", "message-text", message.text || "");
    element.replaceChildren(meta, body);
    (message.attachments || []).forEach((attachment) => element.append(attachmentLink(attachment)));
    if (message.direction === "out") {
      const status = node("div", `delivery delivery-${message.status}`, message.status);
      if (message.error) status.append(node("span", "delivery-error", ` — ${message.error}`));
      element.append(status);
    }
  }

  function attachmentLink(attachment) {
    const label = attachment.name || attachment.kind || "attachment";
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
    const path = `/api/v1/conversations/${encodeURIComponent(state.selected.id)}/${kind === "note" ? "notes" : "messages"}`;
    const body = { text, client_id: newClientId(), attachments };
    setComposerBusy(true);
    try {
      showMessage(await withRetry(() => api(path, { method: "POST", json: body }), () => {
        error.textContent = "Reconnecting… your message is kept and will be sent.";
      }));
      error.textContent = "";
      textarea.value = "";
      state.typingSentAt = 0;
      state.pendingAttachments = [];
      renderPendingAttachments();
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

  /* Files are uploaded as soon as they are chosen, then sent with the next reply or note. */
  async function attachFiles(files) {
    const error = byId("composer-error");
    error.textContent = "";
    setComposerBusy(true);
    try {
      for (const file of files) {
        const form = new FormData();
        form.append("file", file);
        const response = await fetch("/api/v1/attachments", {
          method: "POST", body: form, credentials: "same-origin", headers: { "X-CSRF-Token": state.session.csrf_token },
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
      remove.title = `Remove ${attachment.name}`;
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
    const now = Date.now();
    if (!state.selected || !byId("reply-text").value.trim() || now - state.typingSentAt < TYPING_REPEAT_MS) return;
    state.typingSentAt = now;
    const path = `/api/v1/conversations/${encodeURIComponent(state.selected.id)}/typing`;
    api(path, { method: "POST", json: { typing: true } }).catch(() => {});
  }

  function setComposerBusy(busy) {
    byId("reply-button").disabled = busy;
    byId("note-button").disabled = busy;
    byId("attach-button").disabled = busy;
  }

  async function conversationAction(action, json) {
    const error = byId("composer-error");
    error.textContent = "";
    try {
      const conversation = await api(`/api/v1/conversations/${encodeURIComponent(state.selected.id)}/${action}`,
                                     { method: "POST", json });
      conversationChanged(conversation);
    } catch (failure) {
      error.textContent = failure.message;
    }
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
    setConnection("Connecting…", false);
    /* The browser sends the session cookie; the first frame proves the page is ours (as for every change). */
    socket.addEventListener("open", () => socket.send(JSON.stringify({ csrf_token: state.session.csrf_token })));
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
        signOut("Your session has ended; please sign in again.");
        return;
      }
      setConnection("Offline, reconnecting…", false);
      state.reconnectTimer = setTimeout(connectSocket, state.reconnectMs);
      state.reconnectMs = Math.min(state.reconnectMs * 2, MAX_RECONNECT_MS);
    });
  }

  function onSocketEvent(frame, socket) {
    if (frame.type === "ready") {
      state.reconnectMs = 1000;
      setConnection("Live", true);
      if (state.everConnected) reportFailure(catchUp(socket));
      state.everConnected = true;
      return;
    }
    if (frame.conversation) conversationChanged(frame.conversation);
    if (frame.message && (frame.type === "message.created" || frame.type === "message.updated")) {
      if (frame.message.conversation_id === state.selected?.id) {
        showMessage(frame.message);
      } else if (frame.type === "message.created" && frame.message.direction === "in") {
        state.unread.add(frame.message.conversation_id);
        renderConversations();
      }
    }
  }

  /* After a reconnect, fetch what happened while the socket was down. */
  async function catchUp(socket) {
    if (state.socket !== socket) return;
    await loadConversations();
    if (state.selected) await loadMessages();
  }

  function reportFailure(promise) {
    promise.catch((failure) => setConnection(failure.message, false));
  }

  /* ---- wiring ---- */

  byId("login-form").addEventListener("submit", signIn);
  byId("logout").addEventListener("click", logOut);
  byId("status-filter").addEventListener("change", () => reportFailure(loadConversations()));
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
  byId("reply-text").addEventListener("keydown", (event) => {
    /* Enter while an input method is composing (Chinese, Japanese) picks a candidate; it must not send. */
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
      event.preventDefault();
      write("reply");
    }
  });
  byId("assign-me").addEventListener("click", () => conversationAction("assign", { agent_id: state.session.agent.id }));
  byId("resolve").addEventListener("click", () => conversationAction("resolve"));

  window.addEventListener("popstate", () => {
    if (state.session) reportFailure(openFromAddress());
  });

  /* Signed in already (the cookie of an earlier sign-in, in this tab or another): straight into the inbox. */
  if ("sessionCookie" in document.body.dataset) {
    api("/api/v1/auth/session").then((session) => reportFailure(enterInbox(session)), () => {
      byId("login").hidden = false;
    });
  } else {
    byId("login").hidden = false;
  }
})();
