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

function clearMessages(form) {
  for (const slot of form.querySelectorAll(".field-error, .form-error, .form-ok")) slot.textContent = "";
}

// The slot whose field is the error's field or its closest parent (`weekly.mon.0` shows at `weekly.mon`).
function errorSlot(form, field) {
  const parts = field.split(".");
  for (let length = parts.length; length > 0; length -= 1) {
    const name = parts.slice(0, length).join(".");
    const slot = [...form.querySelectorAll("[data-error-for]")].find((each) => each.dataset.errorFor === name);
    if (slot) return slot;
  }
  return null;
}

function showErrors(form, answer, status) {
  for (const error of answer.errors || []) {
    const slot = errorSlot(form, error.field || "");
    if (slot) slot.textContent = error.message;
  }
  form.querySelector(".form-error").textContent = answer.detail || `HTTP ${status}`;
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
      secret.hidden = false;
      form.querySelector(".form-ok").textContent = answer.url;
    } else {
      location.reload();
    }
  } catch (error) {
    form.querySelector(".form-error").textContent = String(error);
  } finally {
    button.disabled = false;
  }
}

for (const form of document.querySelectorAll("form.api-form")) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submit(form);
  });
}
