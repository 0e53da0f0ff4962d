/* Omnihub web chat window: fetched by the widget's loader (widget.js) on the first open, or at once for a returning
 * visitor. It takes over the loader's Shadow DOM and bubble, then answers the script API calls made meanwhile.
 * Script API: window.Omnihub.open(), .minimise(), .close(), .send(text).
 * Minimise (the header's first button, Escape, the bubble) folds the window into the bubble: the conversation, its
 * live replies (counted on the bubble) and the draft stay. Close (×) ends the chat for this page view: the draft
 * goes and, once nothing waits to be sent, so does the connection, so nothing more is counted; the bubble stays
 * (as Intercom's and Chatwoot's launchers do), and opening it again reconnects and shows what was written meanwhile.
 * Unsent messages (waiting, or refused with a retry button) are kept in the tab's sessionStorage per widget and
 * visitor: a reload shows them and sends them in order, each with its client_id, so the hub stores it once.
 * A 429 pauses sending for its Retry-After (retry_after on a socket frame) with a notice until it resumes by itself.
 * While the visitor types, a "typing" frame goes out at most every TYPING_EVERY_MS; the agents see it.
 * Files: uploaded to /attachments first, then sent in a message by the URL the hub answered.
 * Rating: once a conversation is resolved (a csat.requested frame, or rating_due on the ready frame or a poll), a card
 * offers 1 to 5 stars and a comment, sent once to /csat.
 * Pre-chat form (per inbox: off, optional, required): name and email, sent to /identify as unverified claims once
 * the hub has issued the visitor token. Offline (config.leave_message, for a new visitor): a form to leave a
 * message and an email, posted to /leave-message, which opens a ticket; later messages reach the same conversation.
 * Language: zh-CN or English by the page's <html lang> (else the browser's), overridden by data-lang on the tag.
 * No dependencies. Styles live in a Shadow DOM; visitor and agent text is only ever set with textContent.
 * Transport: WebSocket first; HTTP (POST + long-poll GET) when sockets are missing or keep failing. */
(function () {
  "use strict";
  var loader = window.OmnihubLoader;
  if (!loader || loader.chat) return;
  loader.chat = true;
  var script = loader.script;
  var widgetToken = script.getAttribute("data-widget-token");

  var hubUrl = script.src.replace(/\/widget\.js(?:[?#].*)?$/, "");
  var widgetUrl = hubUrl + "/widget/" + encodeURIComponent(widgetToken);
  var STORAGE_KEY = "omnihub.visitor." + widgetToken;
  var OUTBOX_KEY = "omnihub.outbox." + widgetToken;
  var TYPING_EVERY_MS = 3000;
  var MAX_TEXT_LENGTH = 4000;
  var LONG_POLL_SECONDS = 25;
  var SOCKET_READY_TIMEOUT_MS = 10000;
  var SOCKET_FAILURES_BEFORE_HTTP = 2;
  var SLOW_DOWN_SECONDS = 10;
  var STRINGS = {
    en: {
      openChat: "Open chat", minimise: "Minimise chat", closeChat: "Close chat", title: "Chat with us", typing: "Typing\u2026",
      message: "Message", placeholder: "Type a message\u2026", send: "Send",
      sending: "Sending\u2026", sent: "Sent", notSent: "Not sent: ", retry: "Retry", refused: "refused by the server",
      tooLong: "Messages can be at most {max} characters.",
      slowDown: "You are sending messages too quickly. Yours are kept and will be sent in a moment.",
      reconnecting: "Reconnecting\u2026 your messages are kept and will be sent.",
      attach: "Attach a file", uploading: "Uploading {name}\u2026", notUploaded: "{name} was not sent: ",
      rate: "How did we do?", comment: "Comment (optional)", thanks: "Thank you for your rating!",
      name: "Name", email: "Email", start: "Start chat",
      away: "We are away. Leave a message and we will answer by email.",
      badEmail: "Please enter a valid email address.", left: "Thank you! We will answer at {email}."
    },
    "zh-CN": {
      openChat: "打开聊天", minimise: "最小化聊天", closeChat: "关闭聊天",
      title: "在线客服", typing: "对方正在输入\u2026",
      message: "消息", placeholder: "输入消息\u2026", send: "发送",
      sending: "发送中\u2026", sent: "已发送", notSent: "未发送：", retry: "重试", refused: "服务器拒绝了此消息",
      tooLong: "每条消息最多 {max} 个字符。",
      slowDown: "您发送得太快了；" +
        "您的消息已保留，稍后会自动发送。",
      reconnecting: "正在重新连接\u2026您的消息已保留，" +
        "连接后会发送。",
      attach: "添加附件", uploading: "正在上传 {name}\u2026",
      notUploaded: "{name} 未能发送：",
      rate: "请为本次服务评分", comment: "留言（选填）", thanks: "感谢您的评价！",
      name: "姓名", email: "邮箱", start: "开始对话",
      away: "客服暂时不在，请留言，我们会通过邮件回复您。",
      badEmail: "请输入有效的邮箱地址。", left: "谢谢！我们会回复到 {email}。"
    }
  };
  var language = /^zh/i.test(script.getAttribute("data-lang") || document.documentElement.lang ||
                               navigator.language || "") ? "zh-CN" : "en";
  var phrases = STRINGS[language];
  var TRY_AGAIN_LATER = 1013; /* the hub's database or broker is away: not a reason to give up on sockets */
  var CSS = ".root{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'PingFang SC','Hiragino Sans GB','Microsoft YaHei','Noto Sans CJK SC',sans-serif;color:#111827}" +
    ".badge{position:absolute;top:-3px;right:-3px;min-width:20px;height:20px;border-radius:10px;background:#dc2626;color:#fff;font-size:12px;line-height:20px;padding:0 6px}" +
    ".panel{position:absolute;right:0;bottom:74px;width:370px;height:540px;max-height:calc(100vh - 110px);background:#fff;border-radius:14px;box-shadow:0 12px 40px rgba(0,0,0,.28);display:flex;flex-direction:column;overflow:hidden}" +
    ".head{background:var(--c);color:#fff;padding:14px 16px;display:flex;align-items:center}" +
    ".head h2{font-size:16px;font-weight:600;margin:0;flex:1}" +
    ".head button{background:none;border:0;color:inherit;font-size:24px;line-height:1;cursor:pointer;padding:0 6px;border-radius:4px}" +
    ".head button:focus-visible{outline:2px solid #fff;outline-offset:-2px}" +
    ".scroll{flex:1;overflow-y:auto;padding:14px;background:#f6f7f9}" +
    ".list{list-style:none;margin:0;padding:0;display:flex;flex-direction:column}" +
    ".msg{align-self:flex-start;max-width:82%;margin:0 0 8px;padding:8px 12px;border-radius:14px;background:#fff;border:1px solid #e5e7eb;white-space:pre-wrap;overflow-wrap:anywhere}" +
    ".msg.mine{align-self:flex-end;background:var(--c);color:#fff;border-color:transparent}" +
    ".msg.failed{background:#fee2e2;color:#991b1b}" +
    ".state{display:block;font-size:11px;text-align:right;margin-top:2px}" +
    ".retry{font:inherit;font-size:12px;margin-top:4px}" +
    ".media{display:block}.media .image{display:block;max-width:100%;max-height:240px;border-radius:8px;margin-top:4px}" +
    ".media .file{display:block;color:inherit;text-decoration:underline;margin-top:4px}.text a{color:inherit;text-decoration:underline}" +
    ".typing{font-size:12px;color:#6b7280;padding:2px 16px 6px}" +
    ".notice{font-size:12px;color:#92400e;background:#fef3c7;padding:6px 16px}" +
    ".form{display:flex;gap:8px;padding:10px;border-top:1px solid #e5e7eb;background:#fff}" +
    ".form textarea{flex:1;resize:none;height:42px;max-height:120px;border:1px solid #6b7280;border-radius:10px;padding:9px 10px;font:inherit;color:inherit}" +
    ".form textarea:focus{outline:2px solid var(--c);outline-offset:-1px}" +
    ".attach{border:0;background:none;color:#4b5563;cursor:pointer;padding:0 4px}" +
    ".attach svg{width:22px;height:22px;fill:none;stroke:currentColor;stroke-width:2}" +
    ".gate :focus,.attach:focus-visible,.send:focus-visible{outline:2px solid var(--c);outline-offset:2px}" +
    ".rate button{border:0;background:none;font-size:24px;color:#6b7280;cursor:pointer}" +
    ".rate div:hover button{color:#f59e0b}.rate button:hover~button{color:#6b7280}.rate textarea{width:100%;font:inherit}" +
    ".gate{display:flex;flex-direction:column;gap:8px;padding:14px}" +
    ".gate input,.gate textarea{display:block;width:100%;border:1px solid #6b7280;border-radius:8px;padding:8px;font:inherit}" +
    ".send{min-height:40px;border:0;border-radius:10px;background:var(--c);color:#fff;padding:0 16px;font:inherit;font-weight:600;cursor:pointer}" +
    "@media (max-width:480px){.panel{position:fixed;inset:0;width:auto;height:auto;max-height:none;border-radius:0}" +
    /* Full screen, the open chat has its own close button: the bubble would cover Send. */
    ".panel:not([hidden])+.bubble{display:none}}";

  var state = {
    visitorToken: readToken(),
    messages: [],          /* ordered: server messages by id, then local pending ones */
    outbox: [],            /* local messages not yet acknowledged, resent with the same client_id */
    lastId: "",
    transport: "socket",   /* becomes "http" when sockets are unavailable or keep failing */
    socket: null,
    socketReady: false,
    socketFailures: 0,
    posting: false,
    polling: false,
    historyLoaded: false,
    pausedUntil: 0,
    resumeTimer: 0,
    typingSentAt: 0,
    backoffMs: 1000,
    started: false,
    unread: 0,
    readUpTo: "",          /* the newest reply the hub was told the visitor has seen */
    reporting: false,
    ratingFor: "",         /* the conversation the rating card asks about */
    claims: null,          /* the pre-chat form's name and email, until the hub has a visitor to attach them to */
    typingTimer: 0,
    ended: false,          /* closed for this page view: disconnected until opened again */
    reconnectTimer: 0
  };
  var ui = buildUi();

  function readToken() {
    try { return window.localStorage.getItem(STORAGE_KEY); } catch (e) { return null; }
  }
  function saveToken(token) {
    state.visitorToken = token;
    sendClaims();
    try { window.localStorage.setItem(STORAGE_KEY, token); } catch (e) { /* private mode: this page keeps it */ }
  }
  function sendClaims() {
    if (state.claims && state.visitorToken) request("POST", "/identify", state.claims, true);
    if (state.visitorToken) state.claims = null;
  }
  function forgetToken() {
    state.visitorToken = null;
    try { window.localStorage.removeItem(STORAGE_KEY); } catch (e) { /* nothing stored */ }
  }

  function node(tag, className, text, attributes, children) {
    var element = document.createElement(tag);
    if (className) element.className = className;
    if (text != null) element.textContent = text;
    for (var name in attributes || {}) element.setAttribute(name, attributes[name]);
    (children || []).forEach(function (child) { element.appendChild(child); });
    return element;
  }

  /* The open chat keeps keyboard focus: Tab from its last control goes to its first, Shift+Tab the other way. */
  function keepFocusInside(panel, shadow, event) {
    var controls = Array.prototype.filter.call(
      panel.querySelectorAll("button, textarea, input, a[href]"),
      function (control) { return !control.disabled && control.offsetParent !== null; });
    if (!controls.length) return;
    var first = controls[0], last = controls[controls.length - 1];
    var current = shadow.activeElement;
    if (event.shiftKey && (current === first || controls.indexOf(current) < 0)) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && (current === last || controls.indexOf(current) < 0)) {
      event.preventDefault();
      first.focus();
    }
  }

  /* Not an emoji: without an emoji font that is an empty box. */
  function paperclip() {
    var svg = "http://www.w3.org/2000/svg", icon = document.createElementNS(svg, "svg"),
        line = document.createElementNS(svg, "path");
    icon.setAttribute("viewBox", "0 0 24 24");
    icon.setAttribute("aria-hidden", "true");
    line.setAttribute("d", "M21 11.5l-8.5 8.5a5 5 0 0 1-7-7L14 4.5a3.5 3.5 0 0 1 5 5L10.5 18a2 2 0 0 1-3-3L15 7.5");
    icon.appendChild(line);
    return icon;
  }

  function buildUi() {
    var shadow = loader.shadow;
    var bubble = loader.bubble;
    loader.addStyles(CSS);
    var badge = node("span", "badge", null, { hidden: "" });
    bubble.appendChild(badge);
    var title = node("h2", null, phrases.title);
    var minimise = node("button", "minimise", "\u2212", { type: "button", "aria-label": phrases.minimise,
                                                         title: phrases.minimise });
    var close = node("button", "close", "\u00d7", { type: "button", "aria-label": phrases.closeChat,
                                                   title: phrases.closeChat });
    var greeting = node("p", "msg", null, { hidden: "" });
    var list = node("ol", "list", null, { "aria-live": "polite" });
    var scroll = node("div", "scroll", null, null, [greeting, list]);
    var typing = node("div", "typing", phrases.typing, { hidden: "" });
    var notice = node("div", "notice", null, { role: "status", hidden: "" });
    var input = node("textarea", null, null, { rows: 1, maxlength: MAX_TEXT_LENGTH, "aria-label": phrases.message,
                                                placeholder: phrases.placeholder });
    var send = node("button", "send", phrases.send, { type: "submit" });
    var attach = node("button", "attach", null, { type: "button", "aria-label": phrases.attach, title: phrases.attach },
                      [paperclip()]);
    var picker = node("input", null, null, { type: "file", hidden: "" });
    var form = node("form", "form", null, null, [attach, picker, input, send]);
    var panel = node("div", "panel", null, { role: "dialog", "aria-modal": "true", hidden: "" },
                     [node("div", "head", null, null, [title, minimise, close]), scroll, typing, notice, form]);
    bubble.parentNode.insertBefore(panel, bubble);

    bubble.onclick = function () { panel.hidden ? openChat() : minimiseChat(); };
    minimise.addEventListener("click", minimiseChat);
    close.addEventListener("click", closeChat);
    attach.addEventListener("click", function () { picker.click(); });
    picker.addEventListener("change", function () {
      var file = picker.files && picker.files[0];
      picker.value = "";
      if (file) sendFile(file);
    });
    var gate = node("form", "gate", null, { hidden: "", novalidate: "" });
    panel.insertBefore(gate, form);
    panel.addEventListener("keydown", function (event) {
      if (event.key === "Escape") {
        minimiseChat();
      } else if (event.key === "Tab") {
        keepFocusInside(panel, shadow, event);
      }
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (sendMessage(input.value)) input.value = "";
      input.focus();
    });
    input.addEventListener("input", reportTyping);
    input.addEventListener("keydown", function (event) {
      /* Enter during IME composition picks a candidate (Chinese, Japanese): it must not send. */
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
        event.preventDefault();
        form.requestSubmit ? form.requestSubmit() : send.click();
      }
    });
    return { host: loader.host, bubble: bubble, badge: badge, panel: panel, title: title, scroll: scroll,
             greeting: greeting, list: list, typing: typing, notice: notice, input: input, form: form, gate: gate };
  }

  function applyConfig(config) {
    if (config.title) {
      ui.title.textContent = config.title;
      ui.panel.setAttribute("aria-label", config.title);
    }
    if (config.greeting) {
      ui.greeting.textContent = config.greeting;
      ui.greeting.hidden = false;
    }
    if (/^#[0-9a-f]{6}$/i.test(config.color || "")) ui.host.style.setProperty("--c", config.color);
    if (state.visitorToken) return;
    if (config.leave_message) showGate(true, true);
    else if (config.prechat === "optional" || config.prechat === "required") showGate(false, config.prechat === "required");
  }

  /* The form before the composer: the pre-chat form (offline false) or the leave-a-message form (offline true). */
  function showGate(offline, emailRequired) {
    var gate = ui.gate;
    var field = function (tag, label, attributes) {
      var control = node(tag, null, null, attributes);
      gate.appendChild(node("label", null, label, null, [control]));
      return control;
    };
    gate.textContent = "";
    if (offline) gate.appendChild(node("div", null, phrases.away));
    var name = field("input", phrases.name, { maxlength: 100, autocomplete: "name" });
    var email = field("input", phrases.email, { type: "email", maxlength: 320, autocomplete: "email" });
    if (emailRequired) email.required = true;
    var text = offline && field("textarea", phrases.message, { rows: 3, maxlength: MAX_TEXT_LENGTH, required: "" });
    gate.appendChild(node("button", "send", offline ? phrases.send : phrases.start, { type: "submit" }));
    gate.hidden = false;
    ui.form.hidden = true;
    gate.onsubmit = function (event) {
      event.preventDefault();
      var claims = { name: name.value.trim() || null, email: email.value.trim() || null };
      email.setAttribute("aria-invalid", String(!email.checkValidity()));
      if (!email.checkValidity()) return showNotice(phrases.badEmail), email.focus();
      if (text && !text.value.trim()) return text.focus();
      if (!text) return openComposer(claims);
      request("POST", "/leave-message", { email: claims.email, name: claims.name, text: text.value,
                                          client_id: newClientId() }, true).then(function (answer) {
        if (answer.status >= 300) return showNotice(answer.body.detail || phrases.badEmail);
        saveToken(answer.body.visitor_token);
        receive(answer.body, false);
        openComposer(null);
        showNotice(phrases.left.replace("{email}", claims.email));
      }, reconnecting);
    };
  }
  function openComposer(claims) {
    state.claims = claims && (claims.name || claims.email) ? claims : null;
    sendClaims();
    ui.gate.hidden = true;
    ui.form.hidden = false;
    showNotice("");
    ui.input.focus();
    start();
  }

  function openChat() {
    ui.panel.hidden = false;
    ui.bubble.setAttribute("aria-expanded", "true");
    ui.bubble.setAttribute("aria-label", phrases.minimise);
    state.ended = false;
    state.unread = 0;
    ui.badge.hidden = true;
    if (ui.gate.hidden) start(); /* a new visitor's token waits for the form: the claims go with it */
    scrollToEnd();
    (ui.gate.hidden ? ui.input : ui.gate.querySelector("input")).focus();
    reportRead();
  }
  /* Focus inside the window goes back to the bubble; a page calling the script API keeps its own. */
  function minimiseChat() {
    var inside = ui.panel.contains(loader.shadow.activeElement);
    ui.panel.hidden = true;
    ui.bubble.setAttribute("aria-expanded", "false");
    ui.bubble.setAttribute("aria-label", phrases.openChat);
    if (inside) ui.bubble.focus();
  }
  function closeChat() {
    minimiseChat();
    ui.input.value = "";
    showTyping(false);
    state.ended = true;
    hangUp();
  }
  /* After a close, once the outbox is empty: no socket, no poll, no reconnect until the chat opens again. */
  function hangUp() {
    if (!state.ended || state.outbox.length) return;
    var socket = state.socket;
    clearTimeout(state.reconnectTimer);
    state.started = state.socketReady = false;
    state.socket = null;
    if (socket) socket.close(1000);
  }
  function scrollToEnd() { ui.scroll.scrollTop = ui.scroll.scrollHeight; }
  function showNotice(text) {
    ui.notice.textContent = text || "";
    ui.notice.hidden = !text;
  }

  function renderMessage(message) {
    if (!message.element) {
      message.element = node("li", "msg");
      message.textNode = node("span", "text");
      message.element.appendChild(message.textNode);
    }
    var mine = message.sender === "contact";
    message.element.className = "msg" + (mine ? " mine" : "") + (message.failed ? " failed" : "");
    showText(message.textNode, message.text || "");
    renderAttachments(message);
    if (message.created_at) message.element.title = new Date(message.created_at).toLocaleString();
    if (mine) {
      if (!message.stateNode) message.element.appendChild(message.stateNode = node("small", "state"));
      message.stateNode.textContent = message.failed ? phrases.notSent + message.failed
        : message.id ? phrases.sent : phrases.sending;
      if (message.failed && !message.retryNode) {
        message.retryNode = node("button", "retry", phrases.retry, { type: "button" });
        message.retryNode.addEventListener("click", function () { queue(message); });
        message.element.appendChild(message.retryNode);
      }
      if (message.retryNode) message.retryNode.hidden = !message.failed;
    }
  }

  /* http(s) addresses become links, without the punctuation after them; the rest stays text. */
  function showText(element, text) {
    element.textContent = "";
    text.split(/(https?:\/\/[^\s<>"'\u3000-\u303f\uff00-\uffef]+)/).forEach(function (part, odd) {
      var url = part.replace(/[.,;:!?'")\]}]+$/, "");
      if (part.indexOf("(") >= 0 && part.charAt(url.length) === ")") url += ")";
      element.append.apply(element, odd % 2 ? [node("a", null, url, { href: url, target: "_blank",
        rel: "noopener noreferrer nofollow" }), part.slice(url.length)] : [part]);
    });
  }

  /* Images the hub stores are shown; anything else with an http(s) link becomes a link named after the file. */
  function renderAttachments(message) {
    if (!message.attachments || message.mediaNode) return;
    message.mediaNode = node("span", "media");
    message.attachments.forEach(function (attachment) {
      var url = attachment.url || "";
      var label = attachment.name || attachment.kind || "attachment";
      if (attachment.kind === "image" && url.indexOf(hubUrl + "/attachments/") === 0) {
        var image = node("img", "image");
        image.src = url;
        image.alt = label;
        image.loading = "lazy";
        message.mediaNode.appendChild(image);
      } else if (/^https?:\/\//.test(url)) {
        var link = node("a", "file", label);
        link.href = url;
        link.target = "_blank";
        link.rel = "noopener noreferrer";
        message.mediaNode.appendChild(link);
      }
    });
    message.element.insertBefore(message.mediaNode, message.textNode.nextSibling);
  }

  /* Server messages take their place by id; local ones wait at the end until acknowledged. */
  function place(message) {
    var index = state.messages.indexOf(message);
    if (index >= 0) state.messages.splice(index, 1);
    var at = state.messages.length;
    if (message.id) {
      for (var i = 0; i < state.messages.length; i++) {
        if (!state.messages[i].id || state.messages[i].id > message.id) { at = i; break; }
      }
    }
    state.messages.splice(at, 0, message);
    var next = state.messages[at + 1];
    ui.list.insertBefore(message.element, next ? next.element : null);
  }

  /* `live` messages arrived while the page was open: they count as unread; history does not. */
  function receive(incoming, live) {
    var message = null;
    for (var i = 0; i < state.messages.length && !message; i++) {
      var known = state.messages[i];
      if (known.id === incoming.id || (incoming.client_id && known.client_id === incoming.client_id &&
          known.sender === incoming.sender)) message = known;
    }
    var isNew = !message;
    message = message || {};
    ["id", "text", "sender", "client_id", "created_at", "status", "attachments"].forEach(function (field) {
      if (incoming[field] != null) message[field] = incoming[field];
    });
    message.failed = null;
    dropFromOutbox(message.client_id);
    if (message.id > state.lastId) state.lastId = message.id;
    var atEnd = ui.scroll.scrollHeight - ui.scroll.scrollTop - ui.scroll.clientHeight < 60;
    renderMessage(message);
    place(message);
    if (isNew && message.sender !== "contact") {
      showTyping(false);
      if (live && ui.panel.hidden) {
        state.unread += 1;
        ui.badge.textContent = String(state.unread);
        ui.bubble.setAttribute("aria-label", phrases.openChat + " (" + state.unread + ")");
        ui.badge.hidden = false;
      }
    }
    if (atEnd || message.sender === "contact") scrollToEnd();
    if (isNew && message.sender !== "contact") reportRead();
  }

  /* Replies count as read once the open chat shows them in a visible tab; the agents see it. */
  function reportRead() {
    if (ui.panel.hidden || document.visibilityState === "hidden" || !state.visitorToken || state.reporting) return;
    var newest = "";
    state.messages.forEach(function (message) {
      if (message.sender !== "contact" && message.id && message.id > newest) newest = message.id;
    });
    if (!newest || newest <= state.readUpTo) return;
    state.reporting = true;
    request("POST", "/read", { up_to: newest }, true).then(function (answer) {
      state.reporting = false;
      if (answer.status === 200) {
        state.readUpTo = newest;
        reportRead();
      }
    }, function () { state.reporting = false; });
  }

  function dropFromOutbox(clientId) {
    state.outbox = state.outbox.filter(function (message) { return message.client_id !== clientId; });
    saveOutbox();
    hangUp();
  }
  function fail(message, reason) {
    message.failed = reason || phrases.refused;
    dropFromOutbox(message.client_id);
    renderMessage(message);
  }

  /* The messages not yet stored by the hub, for a reload of this tab: waiting ones, and refused ones with the
   * reason. The visitor token they were written with goes along: another visitor's are not shown or sent. */
  function saveOutbox() {
    var unsent = state.messages.filter(function (message) { return !message.id && message.sender === "contact"; });
    try {
      if (!unsent.length) return sessionStorage.removeItem(OUTBOX_KEY);
      sessionStorage.setItem(OUTBOX_KEY, JSON.stringify({ visitor: state.visitorToken, messages: unsent.map(
        function (message) {
          return { client_id: message.client_id, text: message.text, attachments: message.attachments,
                   failed: message.failed };
        }) }));
    } catch (e) { /* storage blocked or full: this page still holds them */ }
  }
  function restoreOutbox() {
    var saved = null;
    try { saved = JSON.parse(sessionStorage.getItem(OUTBOX_KEY)); } catch (e) { /* nothing kept */ }
    if (!saved || (saved.visitor && saved.visitor !== state.visitorToken)) return;
    saved.messages.forEach(function (message) {
      message.sender = "contact";
      if (!message.failed) return queue(message);
      renderMessage(message);
      place(message);
    });
  }
  function showTyping(typing) {
    clearTimeout(state.typingTimer);
    ui.typing.hidden = !typing;
    if (typing) state.typingTimer = setTimeout(function () { ui.typing.hidden = true; }, 8000);
  }
  function newClientId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return (b + 256).toString(16).slice(1); }).join("");
  }

  function sendMessage(text, attachments) {
    text = String(text == null ? "" : text).trim();
    attachments = attachments || [];
    if (!text && !attachments.length) return false;
    var tooLong = phrases.tooLong.replace("{max}", MAX_TEXT_LENGTH);
    if (text.length > MAX_TEXT_LENGTH) {
      showNotice(tooLong);
      return false;
    }
    if (ui.notice.textContent === tooLong) showNotice("");
    queue({ id: null, client_id: newClientId(), text: text, sender: "contact", attachments: attachments });
    if (ui.panel.hidden) openChat(); else start();
    return true;
  }

  /* A new message, a restored one, or a refused one tried again: it goes out after those already waiting. */
  function queue(message) {
    message.failed = null;
    renderMessage(message);
    place(message);
    state.outbox.push(message);
    saveOutbox();
    scrollToEnd();
    flushOutbox();
  }

  /* At most one frame every TYPING_EVERY_MS, and only on an open socket: a hint is not worth a request. */
  function reportTyping() {
    if (!state.socketReady || Date.now() - state.typingSentAt < TYPING_EVERY_MS) return;
    state.typingSentAt = Date.now();
    state.socket.send(JSON.stringify({ type: "typing" }));
  }

  /* The file goes to the hub first; the message then names it by the URL the hub answered. */
  function sendFile(file) {
    showNotice(phrases.uploading.replace("{name}", file.name));
    var form = new FormData();
    form.append("file", file, file.name);
    var headers = { Accept: "application/json" };
    if (state.visitorToken) headers.Authorization = "Bearer " + state.visitorToken;
    fetch(widgetUrl + "/attachments", { method: "POST", headers: headers, body: form }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (json) {
        if (response.status !== 201) throw new Error(json.detail || String(response.status));
        if (json.visitor_token) saveToken(json.visitor_token);
        showNotice("");
        sendMessage("", [{ kind: json.kind, url: json.url, mime_type: json.mime_type, name: json.name, size: json.size }]);
      });
    }).catch(function (error) {
      showNotice(phrases.notUploaded.replace("{name}", file.name) + error.message);
    });
  }

  /* One pause for all refused messages, as long as the hub asked; the notice stays until sending resumes. */
  function slowDown(seconds) {
    state.pausedUntil = Math.max(state.pausedUntil, Date.now() + seconds * 1000);
    showNotice(phrases.slowDown);
    clearTimeout(state.resumeTimer);
    state.resumeTimer = setTimeout(function () {
      state.pausedUntil = 0;
      showNotice("");
      flushOutbox();
    }, state.pausedUntil - Date.now());
  }
  function nextBackoff() {
    var delay = state.backoffMs;
    state.backoffMs = Math.min(delay * 2, 30000);
    return delay / 2 + Math.random() * delay / 2;
  }
  /* Only the outage's notice ends here: a pause or a thank-you stays. */
  function connected() {
    state.backoffMs = 1000;
    if (ui.notice.textContent === phrases.reconnecting) showNotice("");
  }
  /* An outage (503, a dropped connection): what is unsent stays in the outbox and goes out when the hub is back. */
  function reconnecting() {
    if (Date.now() >= state.pausedUntil) showNotice(phrases.reconnecting);
  }

  function flushOutbox() {
    if (Date.now() < state.pausedUntil) return;
    if (state.socketReady) {
      state.outbox.forEach(function (message) {
        if (message.inFlight) return;
        message.inFlight = true;
        state.socket.send(JSON.stringify({ type: "message", text: message.text, client_id: message.client_id,
                                           attachments: attachmentRefs(message),
                                           page_url: location.href.slice(0, 1000) }));
      });
    } else if (state.transport === "http" && !state.posting && state.outbox.length) {
      postNext(state.outbox[0]);
    }
  }

  function askRating(conversationId) {
    if (!conversationId || state.ratingFor === conversationId) return;
    state.ratingFor = conversationId;
    var comment = node("textarea", null, null, { maxlength: 1000, placeholder: phrases.comment,
                                                 "aria-label": phrases.comment });
    var stars = node("div");
    var card = node("li", "msg rate", null, { role: "group", "aria-label": phrases.rate },
                    [node("p", null, phrases.rate), comment, stars]);
    [1, 2, 3, 4, 5].forEach(function (rating) {
      var star = node("button", null, "\u2605", { type: "button", "aria-label": rating + "/5" });
      star.addEventListener("click", function () {
        request("POST", "/csat", { conversation_id: conversationId, rating: rating, comment: comment.value || null },
                true).then(function (answer) {
          /* 409: rated already (from another tab): thanked all the same */
          if (answer.status < 300 || answer.status === 409) card.textContent = phrases.thanks;
          else showNotice(answer.body.detail);
        }, reconnecting);
      });
      stars.appendChild(star);
    });
    ui.list.appendChild(card);
    scrollToEnd();
  }

  function attachmentRefs(message) {
    return (message.attachments || []).map(function (attachment) { return { url: attachment.url }; });
  }

  function start() {
    if (state.started) return;
    state.started = true;
    if (window.WebSocket) connectSocket(); else useHttp();
  }

  function connectSocket() {
    var socket;
    try {
      socket = new WebSocket(widgetUrl.replace(/^http/, "ws") + "/ws");
    } catch (e) {
      return useHttp();
    }
    state.socket = socket;
    /* The token travels in the first frame, not the URL, so it stays out of access logs. */
    socket.onopen = function () { socket.send(JSON.stringify({ visitor_token: state.visitorToken || null })); };
    var readyTimer = setTimeout(function () { socket.close(); }, SOCKET_READY_TIMEOUT_MS);
    socket.onmessage = function (event) {
      var frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      if (frame.type === "ready") clearTimeout(readyTimer);
      onFrame(frame);
    };
    socket.onclose = function (event) {
      clearTimeout(readyTimer);
      if (state.socket !== socket) return;
      state.socket = null;
      state.outbox.forEach(function (message) { message.inFlight = false; });
      var outage = event.code === TRY_AGAIN_LATER;
      state.socketFailures = state.socketReady || outage ? 0 : state.socketFailures + 1;
      state.socketReady = false;
      if (event.code === 4401) forgetToken(); /* expired or foreign token: continue as a new visitor */
      if (event.code === 4429 && Date.now() >= state.pausedUntil) slowDown(SLOW_DOWN_SECONDS);
      else if (event.code !== 4401) reconnecting();
      if (state.socketFailures >= SOCKET_FAILURES_BEFORE_HTTP) return useHttp();
      state.reconnectTimer = setTimeout(connectSocket, Math.max(nextBackoff(), state.pausedUntil - Date.now()));
    };
  }

  function onFrame(frame) {
    if (frame.type === "ready") {
      state.socketReady = true;
      connected();
      if (frame.visitor_token) saveToken(frame.visitor_token);
      (frame.messages || []).forEach(function (message) { receive(message, false); });
      askRating(frame.rating_due);
      flushOutbox();
      reportPage();
    } else if ((frame.type === "ack" || frame.type === "message.created" || frame.type === "message.updated") &&
               frame.message) {
      if (frame.type === "ack") connected();
      receive(frame.message, true);
    } else if (frame.type === "csat.requested") {
      askRating(frame.conversation_id);
    } else if (frame.type === "typing") {
      showTyping(!!frame.typing);
    } else if (frame.type === "error") {
      var message = state.outbox.filter(function (m) { return m.client_id === frame.client_id; })[0];
      if (frame.code === "rate_limited") slowDown(frame.retry_after || SLOW_DOWN_SECONDS);
      if (!message) return;
      if (frame.code === "rate_limited") {
        message.inFlight = false;
      } else if (/_unavailable$/.test(frame.code || "")) {
        message.inFlight = false;
        reconnecting();
        setTimeout(flushOutbox, nextBackoff());
      } else {
        fail(message, frame.detail);
      }
    }
  }

  /* The page the visitor is on, for the agent: no query string or fragment, where a form's values would be. */
  function reportPage() {
    var bare = function (url) { return (url || "").split(/[?#]/)[0]; };
    var zone = "";
    try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { /* no Intl */ }
    if (state.socket) state.socket.send(JSON.stringify({ type: "page", url: bare(location.href), title: document.title.slice(0, 300),
      referrer: bare(document.referrer), time_zone: zone, language: navigator.language || "" }));
  }

  function useHttp() {
    state.transport = "http";
    flushOutbox();
    poll();
  }

  /* Only /messages answers CORS preflights, so /config is fetched without the visitor's token. */
  function request(method, path, body, asVisitor) {
    var headers = { Accept: "application/json" };
    if (asVisitor && state.visitorToken) headers.Authorization = "Bearer " + state.visitorToken;
    if (body) headers["Content-Type"] = "application/json";
    return fetch(widgetUrl + path, { method: method, headers: headers, body: body ? JSON.stringify(body) : undefined })
      .then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (json) {
          return { status: response.status, body: json,
                   retryAfter: parseInt(response.headers.get("Retry-After"), 10) || SLOW_DOWN_SECONDS };
        });
      });
  }

  function postNext(message) {
    state.posting = true;
    var retry = function () { state.posting = false; reconnecting(); setTimeout(flushOutbox, nextBackoff()); };
    request("POST", "/messages", { text: message.text, client_id: message.client_id,
                                   attachments: attachmentRefs(message),
                                   page_url: location.href.slice(0, 1000) }, true).then(function (answer) {
      if (answer.status >= 500) return retry(); /* same client_id next time: the hub stores it once */
      state.posting = false;
      if (answer.status === 429) {
        slowDown(answer.retryAfter);
      } else if (answer.status === 401 && state.visitorToken) {
        forgetToken();
        flushOutbox();
      } else if (answer.status >= 400) {
        fail(message, answer.body.detail);
        flushOutbox();
      } else {
        connected();
        if (answer.body.visitor_token) saveToken(answer.body.visitor_token);
        receive(answer.body, true);
        flushOutbox();
        poll();
      }
    }, retry);
  }

  function poll() {
    if (state.polling || !state.visitorToken || state.ended) return;
    state.polling = true;
    var query = "?wait=" + (state.historyLoaded ? LONG_POLL_SECONDS : 0) +
      (state.lastId ? "&after=" + encodeURIComponent(state.lastId) : "");
    var again = function (delay) { state.polling = false; setTimeout(poll, delay); };
    request("GET", "/messages" + query, null, true).then(function (answer) {
      if (state.ended) return void (state.polling = false); /* read again when the chat opens */
      if (answer.status === 401) { state.polling = false; return forgetToken(); }
      if (answer.status === 429) return again(answer.retryAfter * 1000);
      if (answer.status === 503) reconnecting();
      if (answer.status >= 400) return again(nextBackoff());
      connected();
      var live = state.historyLoaded;
      state.historyLoaded = true;
      (answer.body.items || []).forEach(function (message) { receive(message, live); });
      askRating(answer.body.rating_due);
      again(0);
    }, function () { reconnecting(); again(nextBackoff()); });
  }

  /* The calls made while this script loaded (the click that opened the chat) wait for the config: it may ask for
   * a form before the chat starts. */
  var replay = function () {
    loader.calls.forEach(function (call) { window.Omnihub[call[0]].apply(null, call[1]); });
  };
  request("GET", "/config").then(function (answer) {
    if (answer.status === 200) applyConfig(answer.body);
    replay();
  }, replay);
  restoreOutbox();
  /* a returning visitor sees replies that arrived while away; kept messages go out */
  if (state.visitorToken || state.outbox.length) start();
  document.addEventListener("visibilitychange", reportRead);

  window.Omnihub = {
    open: openChat,
    minimise: minimiseChat,
    close: closeChat,
    send: function (text) { return sendMessage(text); }
  };
})();
