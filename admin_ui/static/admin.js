// Omnihub admin pages: every change goes to the JSON API with the session's CSRF token, and the API's errors are
// shown next to the fields they name. Text from the server is only ever set with textContent.
"use strict";

const csrfToken = document.querySelector('meta[name="csrf-token"]').content;

// The header's language and theme switches: a cookie the server reads (also /inbox), then a reload.
for (const select of document.querySelectorAll("select[data-preference]")) {
  select.addEventListener("change", () => {
    const name = select.dataset.preference;
    const maxAge = select.value ? 365 * 24 * 3600 : 0;
    document.cookie = `${name}=${encodeURIComponent(select.value)}; path=/; max-age=${maxAge}; SameSite=Lax`;
    location.reload();
  });
}

function splitList(text, separator) {
  return text.split(separator).map((item) => item.trim()).filter((item) => item !== "");
}

function readValue(field) {
  switch (field.dataset.type) {
    case "bool": return field.checked;
    case "int": return field.value === "" ? null : Number.parseInt(field.value, 10);
    case "float": return field.value === "" ? null : Number.parseFloat(field.value);
    case "lines": return splitList(field.value, /\r?\n/);
    case "list": return splitList(field.value, /[,，\n]/);
    default: return field.value;
  }
}

function isEmpty(value) {
  return value === null || value === "" || (Array.isArray(value) && value.length === 0);
}

// Builds the JSON body from the form's fields; `settings.app_id` nests, `data-type="set"` collects checked boxes.
function formBody(form) {
  const body = {};
  const put = (path, value) => {
    const parts = path.split(".");
    let target = body;
    for (const part of parts.slice(0, -1)) target = target[part] ??= {};
    target[parts.at(-1)] = value;
  };
  for (const field of form.querySelectorAll("[data-type]")) {
    if (field.dataset.type === "set") continue;
    const value = readValue(field);
    if (field.hasAttribute("data-optional") && isEmpty(value)) continue;
    put(field.name, value);
  }
  const sets = new Set([...form.querySelectorAll('[data-type="set"]')].map((box) => box.name));
  for (const name of sets) {
    const checked = form.querySelectorAll(`[data-type="set"][name="${name}"]:checked`);
    put(name, [...checked].map((box) => box.value));
  }
  return body;
}

// The templates put a field's error slot inside its label, where its text would become part of the field's name
// for assistive technology: the field is named by the label's own words and described by the slot instead.
let errorSlots = 0;
for (const slot of document.querySelectorAll("label > .field-error")) {
  const label = slot.parentElement;
  const field = label.querySelector("input, select, textarea");
  if (!field) continue;
  const words = label.cloneNode(true);
  for (const each of words.querySelectorAll("input, select, textarea, .field-error")) each.remove();
  field.setAttribute("aria-label", words.textContent.replace(/\s+/g, " ").trim());
  slot.id ||= `field-error-${(errorSlots += 1)}`;
  field.setAttribute("aria-describedby", slot.id);
}

function describedField(slot) {
  return slot.id ? document.querySelector(`[aria-describedby="${CSS.escape(slot.id)}"]`) : null;
}

function clearMessages(form) {
  for (const slot of form.querySelectorAll(".field-error, .form-error, .form-ok")) slot.textContent = "";
  for (const field of form.querySelectorAll("[aria-invalid]")) field.removeAttribute("aria-invalid");
}

// The slot whose field is the error's field or its closest parent (`weekly.mon.0` and `questions[0]` show at
// `weekly.mon` and `questions`).
function errorSlot(form, field) {
  const parts = field.replace(/\[(\d+)\]/g, ".$1").split(".");
  for (let length = parts.length; length > 0; length -= 1) {
    const name = parts.slice(0, length).join(".");
    const slot = [...form.querySelectorAll("[data-error-for]")].find((each) => each.dataset.errorFor === name);
    if (slot) return slot;
  }
  return null;
}

// The API's own words for a value of the wrong JSON type or shape ("Expected `int` >= 10") speak of JSON, not of
// what was typed: a field with a hint shows the hint instead.
function fieldMessage(slot, message) {
  return slot.dataset.hint && message.startsWith("Expected `") ? slot.dataset.hint : message;
}

// The form's own line repeats the API's detail, unless that detail is in JSON-speak its fields' hints replaced.
function showErrors(form, answer, status) {
  const errors = answer.errors || [];
  let placed = 0;
  let hinted = false;
  for (const error of errors) {
    const slot = errorSlot(form, error.field || "");
    if (!slot) continue;
    const message = error.message || "";
    slot.textContent = fieldMessage(slot, message);
    describedField(slot)?.setAttribute("aria-invalid", "true");
    hinted ||= slot.textContent !== message;
    placed += 1;
  }
  form.querySelector(".form-error").textContent = hinted && placed === errors.length
    ? document.querySelector('meta[name="fields-text"]').content
    : answer.detail || `HTTP ${status}`;
}

async function requestFor(form) {
  const headers = { "X-CSRF-Token": csrfToken };
  let url = form.dataset.api;
  if (form.hasAttribute("data-upload")) {
    const file = form.querySelector('input[type="file"]').files[0];
    const format = form.querySelector('[name="format"]').value;
    url += `?format=${encodeURIComponent(format)}`;
    headers["Content-Type"] = format === "csv" ? "text/csv" : "text/markdown";
    return fetch(url, { method: "POST", headers, body: file ? await file.text() : "" });
  }
  headers["Content-Type"] = "application/json";
  const body = form.dataset.method === "DELETE" ? undefined : JSON.stringify(formBody(form));
  return fetch(url, { method: form.dataset.method, headers, body, credentials: "same-origin" });
}

function showAsk(form, answer) {
  const result = form.querySelector("#ask-result");
  const titleOf = (id) => {
    const link = document.querySelector(`tr[data-article-id="${CSS.escape(id)}"] [data-article-title]`);
    const suggested = (answer.suggestions || []).find((each) => each.article_id === id);
    return link ? link.textContent : suggested ? suggested.title : id;
  };
  result.querySelector('[data-answer="decision"]').textContent = answer.decision;
  result.querySelector('[data-answer="article"]').textContent = answer.article_id ? titleOf(answer.article_id) : "–";
  result.querySelector('[data-answer="score"]').textContent = answer.score.toFixed(3);
  result.hidden = false;
}

// What a form says once its change is made: its `data-done` text with the answer's `{fields}` filled in, or "Saved.".
function doneText(form, answer) {
  const text = form.dataset.done || document.querySelector('meta[name="saved-text"]').content;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(answer[name] ?? ""));
}

// A form whose change reloads the page says so after the reload (the page shows the changed data).
const DONE_KEY = "omnihub_admin_done";

function reloadSaying(form, answer) {
  const key = form.id || form.dataset.api;
  sessionStorage.setItem(DONE_KEY, JSON.stringify({ path: location.pathname, key, text: doneText(form, answer) }));
  location.reload();
}

function showDoneAfterReload() {
  const saved = sessionStorage.getItem(DONE_KEY);
  sessionStorage.removeItem(DONE_KEY);
  if (!saved) return;
  const done = JSON.parse(saved);
  if (done.path !== location.pathname) return;
  const form = [...document.querySelectorAll("form.api-form")].find(
    (each) => (each.id || each.dataset.api) === done.key,
  );
  if (form) form.querySelector(".form-ok").textContent = done.text;
}

// A replayed delivery's row follows it until its new attempt is recorded: status, attempts, response codes.
const REPLAY_POLL_MS = 400;
const REPLAY_WAIT_MS = 60_000;

function showDelivery(row, delivery) {
  const status = row.querySelector("[data-status]");
  status.textContent = delivery.status;
  status.className = `status status-${delivery.status}`;
  row.querySelector("[data-attempts]").textContent = String(delivery.attempts);
  const codes = row.querySelector("[data-codes]");
  codes.replaceChildren();
  for (const attempt of delivery.log) {
    const code = document.createElement("span");
    code.className = "code";
    code.textContent = String(attempt.status_code || attempt.error || "–");
    codes.append(code, " ");
  }
}

async function followReplay(form, replayed) {
  const row = form.closest("tr");
  const url = form.dataset.api.replace(/\/redeliver$/, "");
  const deadline = Date.now() + REPLAY_WAIT_MS;
  showDelivery(row, replayed);
  form.querySelector(".form-ok").textContent = form.dataset.waiting;
  while (Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, REPLAY_POLL_MS));
    const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
    const delivery = await response.json().catch(() => ({}));
    if (!response.ok) {
      showErrors(form, delivery, response.status);
      return;
    }
    if (delivery.attempts > replayed.attempts) {
      showDelivery(row, delivery);
      form.querySelector(".form-ok").textContent = "";
      return;
    }
  }
  form.querySelector(".form-ok").textContent = form.dataset.late;
}

async function submit(form) {
  clearMessages(form);
  const button = form.querySelector('button[type="submit"]');
  button.disabled = true;
  try {
    const response = await requestFor(form);
    const answer = response.status === 204 ? {} : await response.json().catch(() => ({}));
    if (!response.ok) {
      showErrors(form, answer, response.status);
      return;
    }
    const then = form.dataset.then || "reload";
    if (then.startsWith("go:")) {
      location.assign(then.slice(3).replace("{id}", encodeURIComponent(answer.id)));
    } else if (then === "ask") {
      showAsk(form, answer);
    } else if (then === "secret") {
      const secret = form.querySelector("#secret");
      secret.querySelector("[data-secret]").textContent = answer.secret;
      secret.querySelector("[data-deliveries]").href = `/admin/webhooks/${encodeURIComponent(answer.id)}`;
      secret.hidden = false;
      form.querySelector(".form-ok").textContent = answer.url;
    } else if (then === "replay") {
      await followReplay(form, answer);
    } else {
      reloadSaying(form, answer);
    }
  } catch (error) {
    form.querySelector(".form-error").textContent = String(error);
  } finally {
    button.disabled = false;
  }
}

showDoneAfterReload();
for (const form of document.querySelectorAll("form.api-form")) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submit(form);
  });
}
